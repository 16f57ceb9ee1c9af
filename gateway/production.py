"""The production switch (``TASKGATE_ENV=production``): refuse to start when unsafe.

A deployment that forgot its secret key, left debug on, or allows anonymous use would run
happily and quietly be insecure; with the switch on it does not start and says why.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

ENVIRONMENTS = ("development", "production")
MIN_SECRET_KEY_LENGTH = 40
# Values copied from .env.example that nobody replaced.
PLACEHOLDER_MARK = "change-me"


def check_environment(
    env: str,
    *,
    secret_key: str,
    debug: bool,
    allow_anonymous: bool,
    allowed_hosts: list[str],
) -> None:
    """Raise :class:`ImproperlyConfigured` listing every problem of a production setup."""
    if env not in ENVIRONMENTS:
        raise ImproperlyConfigured(
            f"TASKGATE_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}"
        )
    if env != "production":
        return
    problems: list[str] = []
    if len(secret_key) < MIN_SECRET_KEY_LENGTH or PLACEHOLDER_MARK in secret_key:
        problems.append(
            f"TASKGATE_SECRET_KEY must be set to a random value of at least "
            f"{MIN_SECRET_KEY_LENGTH} characters (python -c 'import secrets; "
            f"print(secrets.token_urlsafe(50))')"
        )
    if debug:
        problems.append("TASKGATE_DEBUG must be off")
    if allow_anonymous:
        problems.append("TASKGATE_ALLOW_ANONYMOUS must be off (use accounts or API tokens)")
    if not allowed_hosts or "*" in allowed_hosts:
        problems.append("TASKGATE_ALLOWED_HOSTS must list the public host names, not '*'")
    if problems:
        raise ImproperlyConfigured(
            "refusing to start with TASKGATE_ENV=production: " + "; ".join(problems)
        )


def check_flower_auth(environ: Mapping[str, str]) -> None:
    """In production Flower must sit behind a login: basic auth (or Flower's own OAuth)."""
    basic = environ.get("FLOWER_BASIC_AUTH", "")
    if environ.get("FLOWER_AUTH"):
        return
    if not basic or PLACEHOLDER_MARK in basic or ":" not in basic:
        raise ImproperlyConfigured(
            "refusing to start Flower with TASKGATE_ENV=production: set FLOWER_BASIC_AUTH "
            "to user:password (not the .env.example placeholder)"
        )
