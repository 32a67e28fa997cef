"""txkv: a transactional key-value store (MVCC and 2PL modes) with a write-ahead log (see server.py)."""
