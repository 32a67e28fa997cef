"""Runtimes: where nodes live. `local` (network namespaces on this machine) is the default."""
