"""``taskgate.start`` from server code: a plain Celery task, or a registered job, owned by a
user whose browser then watches it over the ordinary protocol (and nobody else may)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model

import taskgate
from taskgate.serve.celery_app import app
from tests.plain_tasks import plain_export, plain_unknown_total
from tests.support import TERMINAL, Gateway, assert_seq_increasing, bearer, client, http_json


def _user(name: str) -> Any:
    users: Any = get_user_model().objects
    return users.get_or_create(username=name)[0]


@pytest.fixture(scope="module")
def alice(make_token: Callable[..., str]) -> tuple[Any, str]:
    token = make_token("start-alice")
    return _user("start-alice"), token


def _watch_to_end(gateway: Gateway, token: str, job_id: str) -> list[dict[str, Any]]:
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=bearer(token)) as c:
        first = c.request({"op": "watch", "job_id": job_id})
        assert first["event"] == "snapshot", first
        if first["state"] in TERMINAL:
            return [first]
        return [first, *c.until_terminal(job_id, timeout=60)]


def test_a_plain_shared_task_started_for_a_user_streams_to_that_user_only(
    gateway: Gateway, alice: tuple[Any, str], make_token: Callable[..., str]
) -> None:
    user, token = alice
    job_id = taskgate.start(plain_export.s(8, seconds=2.0), owner=user)
    frames = _watch_to_end(gateway, token, job_id)
    kinds = [f["event"] for f in frames]
    assert kinds[-1] == "success", frames
    assert frames[-1]["result"] == {"rows": 8, "job": job_id}
    assert "progress" in kinds  # watched while it ran
    progress = [f["progress"] for f in frames if f["event"] == "progress"]
    assert progress[-1]["message"].endswith("of 8 rows")
    assert_seq_increasing(frames)
    # Someone else: forbidden over the socket and over HTTP.
    other = make_token("start-mallory")
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=bearer(other)) as c:
        assert c.request({"op": "watch", "job_id": job_id})["code"] == "forbidden"
    assert http_json("GET", f"{gateway.http}/api/jobs/{job_id}", headers=bearer(other))[0] == 403
    status, _, snapshot = http_json(
        "GET", f"{gateway.http}/api/jobs/{job_id}", headers=bearer(token)
    )
    assert (status, snapshot["state"], snapshot["job"]) == (200, "success", "tests.plain_export")


def test_a_plain_task_with_no_total_reports_progress_without_a_percent(
    gateway: Gateway, alice: tuple[Any, str]
) -> None:
    user, token = alice
    job_id = taskgate.start(plain_unknown_total.s(20), owner=user)
    frames = _watch_to_end(gateway, token, job_id)
    assert frames[-1]["event"] == "success"
    progress = [f["progress"] for f in frames if f["event"] == "progress"]
    assert progress
    assert all(p["total"] is None and p["percent"] is None for p in progress)


def test_a_plain_task_started_for_a_user_can_be_cancelled_by_that_user(
    gateway: Gateway, alice: tuple[Any, str]
) -> None:
    user, token = alice
    job_id = taskgate.start(plain_export.s(60, seconds=30.0), owner=user)
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=bearer(token)) as c:
        c.request({"op": "watch", "job_id": job_id})
        c.recv_until(lambda f: f.get("event") == "progress" and f["job_id"] == job_id, 30)
        end = c.request({"op": "cancel", "job_id": job_id}, timeout=30)  # answered by the end
    assert end["event"] == "cancelled"
    assert end["job_id"] == job_id


def test_the_same_task_sent_with_plain_delay_just_runs(gateway: Gateway) -> None:
    """No header, no record: report_progress does nothing and the task succeeds."""
    result = plain_export.delay(3)
    assert result.get(timeout=30) == {"rows": 3, "job": result.id}
    assert http_json("GET", f"{gateway.http}/api/jobs/{result.id}")[0] == 404


def test_a_registered_job_started_by_name_has_its_params_validated(
    gateway: Gateway, alice: tuple[Any, str]
) -> None:
    user, token = alice
    with pytest.raises(taskgate.ProtocolError) as refused:
        taskgate.start("demo.echo", owner=user, params={"seconds": -1})
    assert refused.value.code == "invalid_params"
    with pytest.raises(taskgate.ProtocolError) as unknown:
        taskgate.start("no.such.job", owner=user)
    assert unknown.value.code == "unknown_job"
    job_id = taskgate.start("demo.echo", owner=user, params={"task_id": "by-name", "seconds": 0})
    assert _watch_to_end(gateway, token, job_id)[-1]["result"] == "by-name"


def test_astart_from_async_code(gateway: Gateway, alice: tuple[Any, str]) -> None:
    import asyncio

    user, token = alice
    job_id = asyncio.run(taskgate.astart(plain_export.s(2), owner=user))
    assert uuid.UUID(job_id)
    last = _watch_to_end(gateway, token, job_id)[-1]  # the end, or a terminal snapshot
    assert last.get("state", last["event"]) == "success"
    assert app.backend.get_task_meta(job_id)["status"] == "SUCCESS"
