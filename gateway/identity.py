"""Who is on the other end of a socket or request, and what they own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from gateway.tokens import bearer, user_for_token

# Set on the scope by TokenAuthMiddleware when a token was given but is not a live one.
TOKEN_REFUSED = "taskgate.token_refused"  # noqa: S105 (a scope key, not a secret)


@dataclass(frozen=True, slots=True)
class Principal:
    """The owner string recorded on jobs, and whether it may see everyone's."""

    owner: str
    staff: bool = False
    authenticated: bool = False

    def may_access(self, owner: str) -> bool:
        return self.staff or owner == self.owner


def principal_for_user(user: Any) -> Principal | None:
    """The principal of a signed-in (or token) user; None for an anonymous one."""
    if user is not None and getattr(user, "is_authenticated", False):
        return Principal(f"user:{user.pk}", staff=bool(user.is_staff), authenticated=True)
    return None


def principal_for(scope: dict[str, Any], connection_id: str) -> Principal:
    """A signed-in user, else the Django session, else this connection alone.

    Channels' auth middleware has already loaded the session, so an unknown or forged
    session cookie shows up here as no session at all.
    """
    principal = principal_for_user(scope.get("user"))
    if principal is not None:
        return principal
    session = scope.get("session")
    key = getattr(session, "session_key", None) if session is not None else None
    if key:
        return Principal(f"session:{key}")
    return Principal(f"conn:{connection_id}")


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
        if scope.get("type") == "websocket":
            raw = scope_token(scope)
            if raw is not None:
                user = await user_for_token(raw)
                scope = dict(scope)
                if user is None:
                    scope[TOKEN_REFUSED] = True
                else:
                    scope["user"] = user
        return await self.inner(scope, receive, send)
