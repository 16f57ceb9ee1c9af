"""Who is on the other end of a socket or request (a :class:`Principal`), and what they own."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Principal:
    """The owner string recorded on jobs, and whether it may see everyone's."""

    owner: str
    staff: bool = False
    authenticated: bool = False
    address: str = ""  # the client's address (what limits anonymous use)

    def may_access(self, owner: str) -> bool:
        return self.staff or owner == self.owner

    @property
    def log_id(self) -> str:
        return owner_log_id(self.owner)


def owner_log_id(owner: str) -> str:
    """How logs name an owner: a session key is a credential (replayed as ``sessionid`` it
    is that session), so it is logged only as a digest; user ids are not secrets."""
    kind, _, key = owner.partition(":")
    if kind in ("session", "anonymous", "conn"):
        return f"{kind}:{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return owner


def principal_for_user(user: Any, address: str = "") -> Principal | None:
    """The principal of a signed-in (or token) user; None for an anonymous one."""
    if user is not None and getattr(user, "is_authenticated", False):
        staff = bool(getattr(user, "is_staff", False))  # a custom user model may have none
        return Principal(f"user:{user.pk}", staff=staff, authenticated=True, address=address)
    return None


def principal_for(scope: dict[str, Any], connection_id: str) -> Principal:
    """A signed-in user, else the Django session, else this connection alone.

    Channels' auth middleware has already loaded the session, so an unknown or forged
    session cookie shows up here as no session at all.
    """
    client = scope.get("client")
    address = str(client[0]) if client else ""
    principal = principal_for_user(scope.get("user"), address)
    if principal is not None:
        return principal
    session = scope.get("session")
    key = getattr(session, "session_key", None) if session is not None else None
    if key:
        return Principal(f"session:{key}", address=address)
    return Principal(f"conn:{connection_id}", address=address)
