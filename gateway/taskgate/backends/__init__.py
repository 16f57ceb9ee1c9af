"""What the gateway stores and sends to: job states and records in Redis, job rows in the
database, the broker."""
