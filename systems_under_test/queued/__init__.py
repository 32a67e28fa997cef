"""queued: a durable FIFO broker with leased dequeue, ack and redelivery."""
