"""WebSocket endpoints: the v1 protocol (``/ws/jobs/``) and the classic one-shot endpoint."""
