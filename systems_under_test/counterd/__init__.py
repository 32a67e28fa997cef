"""counterd: a counter service with idempotency keys."""
