"""The production switch (``TASKGATE_ENV=production``): refuse to start when unsafe.

A deployment that forgot its secret key, left debug on, or allows anonymous use would run
happily and quietly be insecure; with the switch on it does not start and says why.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

ENVIRONMENTS = ("development", "production")
MIN_SECRET_KEY_LENGTH = 40
# 50 random URL-safe characters have about 35 different ones; a key of one repeated
# character, or a word typed twice, has few.
MIN_SECRET_KEY_DISTINCT = 16
# Values copied from .env.example that nobody replaced.
PLACEHOLDER_MARK = "change-me"


def check_environment(
    env: str,
    *,
    secret_key: str,
    debug: bool,
    allow_anonymous: bool,
    allowed_hosts: list[str],
    secure_cookies: bool = True,
) -> None:
    """Raise :class:`ImproperlyConfigured` listing every problem of a production setup."""
    if env not in ENVIRONMENTS:
        raise ImproperlyConfigured(
            f"TASKGATE_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}"
        )
    if env != "production":
        return
    problems: list[str] = []
    if (
        len(secret_key) < MIN_SECRET_KEY_LENGTH
        or len(set(secret_key)) < MIN_SECRET_KEY_DISTINCT
        or PLACEHOLDER_MARK in secret_key
    ):
        problems.append(
            f"TASKGATE_SECRET_KEY must be set to a random value of at least "
            f"{MIN_SECRET_KEY_LENGTH} characters, {MIN_SECRET_KEY_DISTINCT} of them different "
            f"(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    if debug:
        problems.append("TASKGATE_DEBUG must be off")
    if allow_anonymous:
        problems.append("TASKGATE_ALLOW_ANONYMOUS must be off (use accounts or API tokens)")
    wild = [host for host in allowed_hosts if _wildcard_like(host)]
    if not allowed_hosts or wild:
        problems.append(
            "TASKGATE_ALLOWED_HOSTS must list the public host names, not wildcards that "
            f"match whole domains ({', '.join(wild) or 'none given'})"
        )
    if not secure_cookies:
        problems.append("TASKGATE_SECURE_COOKIES must be on (cookies only over HTTPS)")
    if problems:
        raise ImproperlyConfigured(
            "refusing to start with TASKGATE_ENV=production: " + "; ".join(problems)
        )


def _wildcard_like(host: str) -> bool:
    """``*``, or a leading-dot pattern of fewer than two labels (``.com`` is every .com)."""
    if host == "*" or "*" in host:
        return True
    return host.startswith(".") and host.strip(".").count(".") < 1


def check_flower_auth(environ: Mapping[str, str]) -> None:
    """In production Flower must sit behind a login: basic auth (or Flower's own OAuth),
    every ``user:password`` pair with both parts, none the .env.example placeholder."""
    if environ.get("FLOWER_AUTH"):
        return
    basic = environ.get("FLOWER_BASIC_AUTH", "")
    pairs = [pair.partition(":") for pair in basic.split(",")]
    if (
        not basic
        or PLACEHOLDER_MARK in basic
        or any(not u or not sep or not pw for u, sep, pw in pairs)
    ):
        raise ImproperlyConfigured(
            "refusing to start Flower with TASKGATE_ENV=production: set FLOWER_BASIC_AUTH "
            "to user:password (each pair with a user and a password; not the .env.example "
            "placeholder)"
        )
