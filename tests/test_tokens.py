"""``taskgate token``: tokens are printed once, stored as digests, listed and revoked."""

from __future__ import annotations

import subprocess

from tests.support import PYTHON, Gateway, bearer, http_json


def _taskgate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYTHON, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_token_create_prints_a_working_token_that_revoke_stops(
    gateway: Gateway, base_env: dict[str, str]
) -> None:
    from taskgate.auth.tokens import digest
    from taskgate.models import ApiToken

    created = _taskgate(base_env, "token", "create", "cli-user", "--create-user", "--name", "ci")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("tg_")
    assert len(token) > 40
    # Only the digest is stored.
    row = ApiToken.objects.get(digest=digest(token))
    assert row.user.get_username() == "cli-user"
    assert token not in {value for value in vars(row).values() if isinstance(value, str)}
    assert http_json("GET", f"{gateway.http}/api/jobs", headers=bearer(token))[0] == 200

    listed = _taskgate(base_env, "token", "list", "cli-user")
    # The table goes to stdout, a token a line, with nothing but the table (pipeable).
    (line,) = listed.stdout.splitlines()
    assert line.split() == [row.prefix, "live", "cli-user", row.created.date().isoformat(), "ci"]
    revoked = _taskgate(base_env, "token", "revoke", row.prefix)
    assert revoked.returncode == 0, revoked.stderr
    assert http_json("GET", f"{gateway.http}/api/jobs", headers=bearer(token))[0] == 401


def test_token_create_for_an_unknown_user_fails_without_create_user(
    base_env: dict[str, str],
) -> None:
    result = _taskgate(base_env, "token", "create", "nobody-here")
    assert result.returncode == 1
    assert "no user named" in result.stdout + result.stderr
    assert not result.stdout.strip().startswith("tg_")
