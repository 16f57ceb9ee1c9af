"""taskgate's WebSocket routes, for a project's Channels router (or taskgate's own ASGI app).

Each consumer checks an API token first (``Authorization: Bearer`` or ``?token=``), so
scripts can use tokens wherever the routes are mounted; the project's own
``AuthMiddlewareStack`` outside supplies the session's user.
"""

from __future__ import annotations

from django.urls import path

from taskgate.auth.middleware import TokenAuthMiddleware
from taskgate.sockets.classic import ClassicConsumer
from taskgate.sockets.consumer import SocketConsumer
from taskgate.sockets.v1 import JobsConsumer

# Route (under the project's prefix) -> consumer; the standalone gateway serves the same
# routes through taskgate.serve.websocket_app.
SOCKET_CONSUMERS: dict[str, type[SocketConsumer]] = {
    "ws/jobs/": JobsConsumer,
    "async_task/": ClassicConsumer,
}

websocket_urlpatterns = [
    path(route, TokenAuthMiddleware(consumer.as_asgi()))
    for route, consumer in SOCKET_CONSUMERS.items()
]
