"""seedkv: the seed S0 key-value store rebuilt as a TCP server (see server.py)."""
