"""The standalone gateway's WebSocket side: taskgate's socket routes in one step.

A project mounts ``taskgate.routing.websocket_urlpatterns`` under its own Channels stack;
the standalone gateway served the same routes as
``OriginCheck(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))``. Each of those
middlewares copies the scope and stays on the socket's stack for its whole life (a frame
waiting on the one inside it): six frames and five copies of a twenty-key scope, some
7 KiB of every idle socket (docs/benchmarks.md, "memory per socket"). :class:`WebSocketApp`
does what they do, in the same order, on one copy of the scope: refuse a foreign origin,
read the cookies, attach the session (lazily, as Channels' ``SessionMiddleware``), resolve
the user (Channels' ``AuthMiddleware``), apply an API token, route by path, then run the
consumer.
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any

from channels.auth import AuthMiddleware
from django.conf import settings
from django.http import parse_cookie
from django.utils.functional import LazyObject

from taskgate.auth.middleware import apply_token
from taskgate.auth.origin import refuse_foreign_origin
from taskgate.routing import SOCKET_CONSUMERS

logger = logging.getLogger(__name__)


class WebSocketApp:
    """taskgate's socket routes (``SOCKET_CONSUMERS``) behind origin, session, user and token."""

    def __init__(self) -> None:
        self._auth = AuthMiddleware(None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if await refuse_foreign_origin(scope, receive, send):
            return
        consumer = SOCKET_CONSUMERS.get(_route(scope))
        if consumer is None:
            logger.warning("refused a socket handshake for an unknown path %r", scope["path"][:100])
            await receive()  # the websocket.connect message
            await send({"type": "websocket.close", "code": 1008})
            return
        scope = dict(
            scope,
            cookies=_cookies(scope),
            path_remaining="",
            url_route={"args": (), "kwargs": {}},
        )
        session = scope["session"] = LazyObject()
        store = import_module(settings.SESSION_ENGINE).SessionStore
        session._wrapped = store(scope["cookies"].get(settings.SESSION_COOKIE_NAME))
        self._auth.populate_scope(scope)
        await self._auth.resolve_scope(scope)
        await apply_token(scope)
        await consumer()(scope, receive, send)


def _route(scope: dict[str, Any]) -> str:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    return path.lstrip("/")


def _cookies(scope: dict[str, Any]) -> dict[str, str]:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie(value.decode("latin1"))
    return {}
