"""API tokens for scripts: made by ``taskgate token create``, stored as SHA-256 digests.

A token is 32 random bytes (URL-safe base64) behind a ``tg_`` prefix. Being random, it
needs no slow password hash: a digest lookup is as safe and costs one indexed query. A
revoked token stops working for every new connection and request; sockets already open
keep the identity they were opened with until they close.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from taskgate.models import ApiToken

PREFIX = "tg_"
MAX_TOKEN_LENGTH = 200


class TokenError(Exception):
    """A token command could not be carried out (unknown user or token)."""


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def bearer(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, if it is one."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def create_token(
    username: str, name: str = "", *, create_user: bool = False, staff: bool = False
) -> str:
    """Make a token for ``username`` and return it; only its digest is kept."""
    users: Any = get_user_model().objects
    user = users.filter(username=username).first()
    if user is None:
        if not create_user:
            raise TokenError(f"no user named {username!r} (add --create-user to make one)")
        user = users.create_user(username=username)
        user.set_unusable_password()
    if staff and not user.is_staff:
        user.is_staff = True
    user.save()
    raw = PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, prefix=raw[:10], digest=digest(raw))
    return raw


def revoke_token(token_or_prefix: str) -> int:
    """Revoke a token given whole, or by the prefix ``token list`` shows. Returns how many."""
    live = ApiToken.objects.filter(revoked__isnull=True)
    if len(token_or_prefix) > 10:
        matched = live.filter(digest=digest(token_or_prefix))
    else:
        matched = live.filter(prefix=token_or_prefix)
    count = matched.update(revoked=timezone.now())
    if count == 0:
        raise TokenError("no live token matches")
    return count


def list_tokens(username: str | None = None) -> list[ApiToken]:
    tokens = ApiToken.objects.select_related("user").order_by("created")
    if username is not None:
        tokens = tokens.filter(user__username=username)
    return list(tokens)


def _user_for(raw: str) -> AbstractBaseUser | None:
    if len(raw) > MAX_TOKEN_LENGTH:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest(raw), revoked__isnull=True, user__is_active=True)
        .first()
    )
    return None if token is None else token.user


async def user_for_token(raw: str) -> AbstractBaseUser | None:
    """The active user a live token belongs to, else None (in a DB thread, not the loop)."""
    user: AbstractBaseUser | None = await database_sync_to_async(_user_for)(raw)
    return user
