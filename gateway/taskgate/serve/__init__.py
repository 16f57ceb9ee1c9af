"""taskgate's own Django project (settings, ASGI app) and the uvicorn server that serves it."""
