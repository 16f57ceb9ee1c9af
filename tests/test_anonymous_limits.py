"""Anonymous use is limited per client address: new sockets or dropped cookies do not help.

A gateway on its own Redis database (the buckets live in Redis) with anonymous use on and
small per-address limits: 20 sockets of one address submitting 20 jobs each get exactly the
address's burst accepted; cookie-less POSTs and page loads make sessions only up to theirs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Gateway, client, http_get, http_json, start_gateway

SUBMITS, SESSIONS = 5, 3


_databases = iter(range(4, 8))


@pytest.fixture
def limited(base_env: dict[str, str], redis_url: str, logs_dir: Path) -> Iterator[Gateway]:
    """Each test its own Redis database: its own buckets (and no worker: jobs stay queued)."""
    env = dict(
        base_env,
        REDIS_URL=redis_url.rsplit("/", 1)[0] + f"/{next(_databases)}",
        TASKGATE_ANONYMOUS_SUBMIT_RATE="0.001",
        TASKGATE_ANONYMOUS_SUBMIT_BURST=str(SUBMITS),
        TASKGATE_ANONYMOUS_SESSION_RATE="0.001",
        TASKGATE_ANONYMOUS_SESSION_BURST=str(SESSIONS),
    )
    gateway = start_gateway(env, logs_dir, name="gateway-limited")
    yield gateway
    gateway.proc.stop()


def test_twenty_sockets_of_one_address_share_its_submit_budget(limited: Gateway) -> None:
    answers = []
    for _ in range(20):
        with client(f"{limited.ws}/ws/jobs/") as c:
            for i in range(20):
                answers.append(
                    c.request({"op": "submit", "job": "demo.echo", "params": {"task_id": i}})
                )
    accepted = [a for a in answers if a["event"] == "accepted"]
    refused = [a for a in answers if a.get("code") == "rate_limited"]
    assert len(accepted) == SUBMITS
    assert len(refused) == 400 - SUBMITS
    assert all(a["retry_after"] > 0 for a in refused)


def test_cookie_less_clients_get_sessions_only_up_to_the_address_budget(limited: Gateway) -> None:
    from django.contrib.sessions.models import Session

    before = Session.objects.count()
    body = {"job": "demo.echo", "params": {"task_id": 1}}
    posts = [http_json("POST", f"{limited.http}/api/jobs", body) for _ in range(4)]
    pages = [http_get(f"{limited.http}/") for _ in range(4)]
    answers = [(status, head) for status, head, _ in posts + pages]
    assert [status for status, _ in answers] == [202] * SESSIONS + [429] * (8 - SESSIONS)
    assert all(int(head["retry-after"]) >= 1 for status, head in answers if status == 429)
    assert Session.objects.count() - before == SESSIONS
