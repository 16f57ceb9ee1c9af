"""Who is on the other end of a socket, and what they own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Principal:
    """The owner string recorded on jobs, and whether it may see everyone's."""

    owner: str
    staff: bool = False
    authenticated: bool = False

    def may_access(self, owner: str) -> bool:
        return self.staff or owner == self.owner


def principal_for(scope: dict[str, Any], connection_id: str) -> Principal:
    """A signed-in user, else the Django session, else this connection alone.

    Channels' auth middleware has already loaded the session, so an unknown or forged
    session cookie shows up here as no session at all.
    """
    user = scope.get("user")
    if user is not None and getattr(user, "is_authenticated", False):
        return Principal(f"user:{user.pk}", staff=bool(user.is_staff), authenticated=True)
    session = scope.get("session")
    key = getattr(session, "session_key", None) if session is not None else None
    if key:
        return Principal(f"session:{key}")
    return Principal(f"conn:{connection_id}")


async def principal_for_request(request: Any) -> Principal | None:
    """The owner behind an HTTP request (async views): a signed-in user, else its session.

    The session is loaded first, so an unknown or forged cookie counts as no session.
    ``None`` when neither is there: such a client owns nothing over HTTP.
    """
    auser = getattr(request, "auser", None)
    user = await auser() if auser is not None else None
    if user is not None and getattr(user, "is_authenticated", False):
        return Principal(f"user:{user.pk}", staff=bool(user.is_staff), authenticated=True)
    session = getattr(request, "session", None)
    if session is None:
        return None
    await session.aget("taskgate")  # loads it; an unknown key is dropped
    key = session.session_key
    return Principal(f"session:{key}") if key else None
