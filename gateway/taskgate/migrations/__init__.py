"""The database tables of the app taskgate (job rows, API tokens)."""
