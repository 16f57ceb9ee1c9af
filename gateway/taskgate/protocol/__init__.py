"""The v1 wire contract: requests, error and close codes, refusals."""
