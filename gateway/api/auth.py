"""Who sent an HTTP request: an API token, else the Django session's user, else the session.

A token comes as ``Authorization: Bearer <token>`` or ``?token=`` (``EventSource`` cannot
set headers). Requests that change something (submit, cancel) and rely on the session
cookie must pass Django's CSRF check; a token is not ambient, so token requests need none.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware

from gateway.api.errors import Unauthenticated
from gateway.identity import Principal, principal_for_user
from gateway.protocol import ErrorCode, ProtocolError
from gateway.tokens import bearer, user_for_token


async def request_principal(
    request: HttpRequest, *, write: bool = False, create_session: bool = False
) -> Principal:
    """The request's principal. ``write``: check CSRF for cookie-borne identities.

    ``create_session``: an anonymous client without a session gets one (its cookie comes
    with the response), so what it submits stays its own on later requests.
    """
    raw = bearer(request.headers.get("Authorization")) or request.GET.get("token")
    if raw:
        user = await user_for_token(raw)
        principal = principal_for_user(user)
        if principal is None:
            raise Unauthenticated("unknown or revoked API token")
        return principal
    principal = principal_for_user(await request.auser())
    if principal is None:
        if not settings.TASKGATE_ALLOW_ANONYMOUS:
            raise Unauthenticated("sign in or use an API token")
        # auser() loaded the session: an unknown or forged cookie left no key behind.
        key = request.session.session_key
        if key is None and create_session:
            await request.session.aset("taskgate", True)
            await request.session.asave()
            return Principal(f"session:{request.session.session_key}")
        if key is None:
            return Principal(f"anonymous:{uuid.uuid4().hex}")  # owns nothing
        principal = Principal(f"session:{key}")
    if write:
        _check_csrf(request)
    return principal


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
