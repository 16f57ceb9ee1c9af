"""A job's state changes on their way out of the worker: stored with their seq, then pushed
through the channel layer."""
