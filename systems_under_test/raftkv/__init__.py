"""raftkv: a Raft-replicated key-value store with a correct mode and five classic mistakes."""
