"""WebSocket consumers: the v1 protocol (``jobs``) and the classic one-shot endpoint."""
