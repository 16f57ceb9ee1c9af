"""The production switch: every unsafe setting is named, a safe one passes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from taskgate.serve.production import check_environment, check_flower_auth

SAFE = {
    "secret_key": "kQ3v9Zr-Tw1sLp7XyB2nHd6Fm0Ju4Ge8Ac5Rb_Ni3Ox7Pe1Wt",
    "debug": False,
    "allow_anonymous": False,
    "allowed_hosts": ["jobs.example.com"],
}


def test_a_safe_production_setup_passes() -> None:
    check_environment("production", **SAFE)  # type: ignore[arg-type]
    # A leading dot over a real domain (its subdomains) is a host list, not a wildcard.
    check_environment("production", **{**SAFE, "allowed_hosts": [".example.com"]})  # type: ignore[arg-type]


def test_development_allows_anything() -> None:
    check_environment(
        "development", secret_key="", debug=True, allow_anonymous=True, allowed_hosts=["*"]
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"secret_key": ""}, "TASKGATE_SECRET_KEY"),
        ({"secret_key": "short"}, "TASKGATE_SECRET_KEY"),
        ({"secret_key": "change-me-" + "x" * 50}, "TASKGATE_SECRET_KEY"),
        ({"debug": True}, "TASKGATE_DEBUG"),
        ({"allow_anonymous": True}, "TASKGATE_ALLOW_ANONYMOUS"),
        ({"allowed_hosts": ["*"]}, "TASKGATE_ALLOWED_HOSTS"),
        ({"allowed_hosts": []}, "TASKGATE_ALLOWED_HOSTS"),
        ({"allowed_hosts": [".com"]}, "TASKGATE_ALLOWED_HOSTS"),
        ({"allowed_hosts": ["jobs.example.com", "*.example.com"]}, "TASKGATE_ALLOWED_HOSTS"),
        ({"secret_key": "a" * 40}, "TASKGATE_SECRET_KEY"),
        ({"secret_key": "correcthorse" * 4}, "TASKGATE_SECRET_KEY"),
        ({"secure_cookies": False}, "TASKGATE_SECURE_COOKIES"),
    ],
)
def test_each_unsafe_setting_is_refused_by_name(change: dict[str, object], named: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=named):
        check_environment("production", **{**SAFE, **change})  # type: ignore[arg-type]


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="TASKGATE_ENV"):
        check_environment("prod", **SAFE)  # type: ignore[arg-type]


def test_flower_needs_a_real_login_in_production() -> None:
    check_flower_auth({"FLOWER_BASIC_AUTH": "ops:s3cret"})
    check_flower_auth({"FLOWER_AUTH": ".*@example\\.com"})
    check_flower_auth({"FLOWER_BASIC_AUTH": "ops:s3cret,dev:an0ther"})
    bad_ones = ["admin:change-me", "nopass", "a:", ":pw", "ops:s3cret,dev:"]
    for bad in ({}, *({"FLOWER_BASIC_AUTH": value} for value in bad_ones)):
        with pytest.raises(ImproperlyConfigured, match="FLOWER_BASIC_AUTH"):
            check_flower_auth(bad)
