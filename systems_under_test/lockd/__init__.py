"""lockd: a lease lock service with a fenced storage server."""
