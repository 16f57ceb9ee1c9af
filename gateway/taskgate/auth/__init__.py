"""Identity: principals, API tokens, the socket's token middleware, origins, HTTP callers."""
