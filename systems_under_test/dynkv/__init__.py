"""dynkv: a Dynamo-style leaderless key-value store with named buggy modes (see server.py)."""
