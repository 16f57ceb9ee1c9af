"""Reads are reads: a snapshot and the job list write nothing; a watch settles a lost job.

The jobs here are submitted to the gateway without a worker (they stay queued), then given
the state a worker would have left in Redis by writing it there, as the worker would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from taskgate.contract.keys import lease_key, seq_key
from taskgate.contract.wire import dumps, now_ts
from taskgate.serve.celery_app import app
from tests.support import Gateway, bearer, client, http_json


@pytest.fixture(scope="module")
def token(make_token: Callable[..., str]) -> str:
    return make_token("reads-user")


@pytest.fixture
def store(idle_redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(idle_redis_url)


def _submit(gateway: Gateway, token: str) -> str:
    body = {"job": "demo.echo", "params": {"task_id": "reads"}}
    status, _, accepted = http_json("POST", f"{gateway.http}/api/jobs", body, bearer(token))
    assert status == 202, accepted
    return str(accepted["job_id"])


def _store_meta(store: redis.Redis, job_id: str, status: str, result: Any) -> None:
    """What Celery's result backend stores for the job (its key, its encoding)."""
    backend: Any = app.backend
    meta = {"status": status, "result": result, "traceback": None, "children": [],
            "date_done": now_ts(), "task_id": job_id}  # fmt: skip
    store.set(backend.get_key_for_task(job_id), dumps(meta))


def _row(job_id: str) -> tuple[str, object]:
    from taskgate.models import Job

    row = Job.objects.get(id=job_id)
    return row.state, row.finished


def _snapshot(gateway: Gateway, token: str, job_id: str) -> dict[str, Any]:
    status, _, body = http_json("GET", f"{gateway.http}/api/jobs/{job_id}", headers=bearer(token))
    assert status == 200, body
    return dict(body)


def test_a_snapshot_of_a_job_whose_worker_died_does_not_settle_it_a_watch_does(
    idle_gateway: Gateway, token: str, store: redis.Redis
) -> None:
    job_id = _submit(idle_gateway, token)
    # Running, as a worker stored it, with no lease: the worker is gone.
    store.set(seq_key(job_id), 1)
    _store_meta(store, job_id, "STARTED", {"seq": 1, "ts": now_ts(), "worker": "gone@host"})
    assert store.get(lease_key(job_id)) is None

    for _ in range(3):
        assert _snapshot(idle_gateway, token, job_id)["state"] == "running"
    assert _row(job_id) == ("", None)

    with client(f"{idle_gateway.ws}/ws/jobs/", additional_headers=bearer(token)) as c:
        first = c.request({"op": "watch", "job_id": job_id})
    assert first["event"] == "snapshot"
    assert first["state"] == "failure"
    assert first["error"]["type"] == "lost"
    # Settled once, everywhere: Redis, the database row, the next snapshot.
    assert _snapshot(idle_gateway, token, job_id)["state"] == "failure"
    state, finished = _row(job_id)
    assert state == "failure"
    assert finished is not None


def test_listing_jobs_shows_live_states_and_writes_nothing(
    idle_gateway: Gateway, token: str, store: redis.Redis
) -> None:
    job_id = _submit(idle_gateway, token)
    _store_meta(store, job_id, "SUCCESS", "done")  # ended; its row was never told
    status, _, page = http_json(
        "GET", f"{idle_gateway.http}/api/jobs?limit=100", headers=bearer(token)
    )
    assert status == 200
    (item,) = [item for item in page["items"] if item["job_id"] == job_id]
    assert item["state"] == "success"
    assert item["finished"] is not None
    assert _row(job_id) == ("", None)
