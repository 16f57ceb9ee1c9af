"""The socket handshake's API token: read from the header or ``?token=``, checked before the
consumer runs (:class:`TokenAuthMiddleware`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from taskgate.auth.tokens import bearer, user_for_token

# Set on the scope by TokenAuthMiddleware when a token was given but is not a live one.
TOKEN_REFUSED = "taskgate.token_refused"  # noqa: S105 (a scope key, not a secret)


def scope_token(scope: dict[str, Any]) -> str | None:
    """The API token of a WebSocket handshake: the Authorization header, else ``?token=``."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            token = bearer(value.decode("latin-1"))
            if token is not None:
                return token
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[0] if values else None


class TokenAuthMiddleware:
    """Replace the session's user by the token's user when the handshake carries a token.

    Sits inside Channels' ``AuthMiddlewareStack``. A token that is unknown or revoked marks
    the scope, and the consumer refuses the handshake (HTTP 403) rather than falling back
    to anonymous use.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") == "websocket" and scope_token(scope) is not None:
            scope = dict(scope)
            await apply_token(scope)
        return await self.inner(scope, receive, send)


async def apply_token(scope: dict[str, Any]) -> None:
    """Put the handshake's token user in ``scope`` (in place), or mark a dead token refused."""
    raw = scope_token(scope)
    if raw is None:
        return
    user = await user_for_token(raw)
    if user is None:
        scope[TOKEN_REFUSED] = True
    else:
        scope["user"] = user
