"""Who sent an HTTP request: an API token, else the Django session's user, else the session.

A token comes as ``Authorization: Bearer <token>`` or ``?token=`` (``EventSource`` cannot
set headers). Requests that change something (submit, cancel) and rely on the session
cookie must pass Django's CSRF check; a token is not ambient, so token requests need none.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware

from taskgate.auth.principal import Principal, principal_for_user
from taskgate.auth.tokens import bearer, user_for_token
from taskgate.config import get_config
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError, Unauthenticated


async def request_principal(request: HttpRequest, *, write: bool = False) -> Principal:
    """The request's principal. ``write``: check CSRF for cookie-borne identities.

    An anonymous client without a session is ``anonymous:<random>`` (it owns nothing);
    :func:`open_session` gives it one.
    """
    address = str(request.META.get("REMOTE_ADDR") or "")
    raw = bearer(request.headers.get("Authorization")) or request.GET.get("token")
    if raw:
        user = await user_for_token(raw)
        principal = principal_for_user(user, address)
        if principal is None:
            raise Unauthenticated("unknown or revoked API token")
        return principal
    principal = principal_for_user(await request.auser(), address)
    if principal is None:
        if not get_config().allow_anonymous:
            raise Unauthenticated("sign in or use an API token")
        # auser() loaded the session: an unknown or forged cookie left no key behind.
        key = request.session.session_key
        if key is None:
            return Principal(f"anonymous:{uuid.uuid4().hex}", address=address)  # owns nothing
        principal = Principal(f"session:{key}", address=address)
    if write:
        _check_csrf(request)
    return principal


async def open_session(request: HttpRequest, principal: Principal) -> Principal:
    """A session for an anonymous client (its cookie comes with the response), so what it
    submits stays its own on later requests. Limit the rate first (jobs/rate_limit.py)."""
    await request.session.aset("taskgate", True)
    await request.session.asave()
    return Principal(f"session:{request.session.session_key}", address=principal.address)


def is_sessionless(principal: Principal) -> bool:
    return principal.owner.startswith("anonymous:")


def _view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    return HttpResponse()


def _check_csrf(request: HttpRequest) -> None:
    refusal: Any = CsrfViewMiddleware(_view).process_view(request, _view, (), {})
    if refusal is not None:
        raise ProtocolError(
            ErrorCode.FORBIDDEN,
            "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken "
            "(or use an API token)",
        )
