"""The WebSocket handshake's ``Origin`` check, in full: scheme, host and port.

A browser always sends ``Origin``. It is accepted when it is the request's own origin (the
scheme the socket is served with, ``ws`` → ``http`` and ``wss`` → ``https``, and the
``Host`` the request came to, which must itself be an allowed host) or one of
``TASKGATE_ALLOWED_ORIGINS``; anything else (another port, plain http for an https page,
another scheme, another site) is refused with 403 before the consumer runs, or a page
elsewhere could drive a signed-in user's socket. Scripts send no ``Origin`` and go on to
authentication like any other client. Behind a proxy that terminates TLS, uvicorn's proxy
headers give the scope the browser's scheme.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from taskgate.config import get_config

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without its default port; None if not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def allowed_origin(scope: dict[str, Any], origin: str) -> bool:
    """Whether a handshake of ``scope`` may come from a page of ``origin``."""
    wanted = normalise(origin)
    if wanted is None:
        return False
    if wanted in {normalise(o) for o in get_config().allowed_origins}:
        return True
    host = _header(scope, b"host")
    if host is None:
        return False
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, list(settings.ALLOWED_HOSTS)):
        return False
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    return wanted == normalise(f"{scheme}://{host}")


class OriginCheck:
    """ASGI middleware for WebSocket routes: refuses handshakes from other origins (403)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") == "websocket" and await refuse_foreign_origin(scope, receive, send):
            return None
        return await self.inner(scope, receive, send)


async def refuse_foreign_origin(scope: dict[str, Any], receive: Any, send: Any) -> bool:
    """Refuse a socket handshake from another origin (403); True if it was refused."""
    origin = _header(scope, b"origin")
    if origin is None or allowed_origin(scope, origin):
        return False
    logger.warning("refused a socket handshake from origin %r", origin[:100])
    await receive()  # the websocket.connect message
    await send({"type": "websocket.close", "code": 1008})
    return True


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None
