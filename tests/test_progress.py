"""The job-side API (worker.progress, events.emit, worker.signals) through a real Celery worker.

This worker comes from pytest-celery's classic fixtures (``celery_session_worker``): a real
worker on the test Redis, consuming its own queue so the subprocess worker never sees these
jobs. What the tests observe is what a gateway would: the channel layer and the backend.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime
from typing import Any

import pytest
from celery import Celery
from channels.layers import get_channel_layer
from pydantic import BaseModel, ConfigDict, Field

from taskgate.contract.keys import group_name
from taskgate.events.layer_pipeline import pushed_event
from taskgate.serve.celery_app import app
from taskgate.worker.progress import report_progress
from taskgate.worker.registry import job

QUEUE = "classic-fixture-tests"


class BurstParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    count: int = Field(ge=1, le=1_000_000)


@job("tests.burst", params=BurstParams, description="Reports progress as fast as it can.")
def burst(params: BurstParams) -> int:
    for done in range(1, params.count + 1):
        report_progress(done, params.count, f"{done} done")
    return params.count


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@job("tests.late_report", params=NoParams, description="A report the coalescing holds back.")
def late_report(params: NoParams) -> list[float]:
    report_progress(1, 2, "first")  # sent at once
    before = time.time()
    report_progress(2, 2, "held")  # within the interval: a timer sends it later
    after = time.time()
    time.sleep(0.3)  # the timer sends it meanwhile
    return [before, after]


@pytest.fixture(scope="session")
def celery_session_app() -> Celery:
    return app


@pytest.fixture(scope="session")
def celery_worker_parameters() -> dict[str, Any]:
    return {"queues": (QUEUE,), "perform_ping_check": False}


def _run_and_listen(job_id: str, start: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Join the job's group in the layer, start the job, collect events up to the terminal one."""

    async def listen() -> list[dict[str, Any]]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group_name(job_id), channel)
        threading.Thread(target=start, daemon=True).start()
        events: list[dict[str, Any]] = []
        while True:
            pushed = pushed_event(await asyncio.wait_for(layer.receive(channel), timeout))
            assert pushed is not None
            events.append(pushed.event)
            if pushed.event["event"] in ("success", "failure", "cancelled"):
                return events

    return asyncio.run(listen())


def test_a_burst_of_progress_is_coalesced_and_the_last_one_gets_through(
    celery_session_worker: Any,
) -> None:
    job_id = "burst-0001"
    events = _run_and_listen(
        job_id, lambda: burst.task.apply_async(kwargs={"count": 20000}, task_id=job_id, queue=QUEUE)
    )
    kinds = [e["event"] for e in events]
    assert kinds[0] == "running"
    assert kinds[-1] == "success"
    progress = [e for e in events if e["event"] == "progress"]
    assert 1 <= len(progress) < 2000  # 20,000 calls, coalesced
    assert progress[-1]["progress"]["current"] == 20000  # the last call always gets through
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    meta = app.backend.get_task_meta(job_id)
    assert meta["status"] == "SUCCESS"
    assert meta["result"] == 20000


def test_a_failing_job_pushes_failure_after_its_state_is_stored(celery_session_worker: Any) -> None:
    from taskgate.examples.demo import fail

    job_id = "fail-0001"
    events = _run_and_listen(
        job_id,
        lambda: fail.task.apply_async(
            kwargs={"steps": 2, "seconds_per_step": 0, "message": "nope"},
            task_id=job_id,
            queue=QUEUE,
        ),
    )
    assert events[-1]["error"] == {"type": "DemoFailure", "message": "nope"}
    assert app.backend.get_task_meta(job_id)["status"] == "FAILURE"


def test_a_held_back_progress_carries_the_moment_it_was_reported(
    celery_session_worker: Any,
) -> None:
    """PROTOCOL.md: ``ts`` is the moment the worker reported it, not when a coalescing timer
    sent it, so ``now - ts`` is the whole delay a watcher saw."""
    job_id = "late-report-0001"
    events = _run_and_listen(
        job_id, lambda: late_report.task.apply_async(kwargs={}, task_id=job_id, queue=QUEUE)
    )
    held = [e for e in events if e["event"] == "progress" and e["progress"]["current"] == 2]
    assert len(held) == 1
    before, after = app.backend.get_task_meta(job_id)["result"]
    reported = datetime.fromisoformat(held[0]["ts"]).timestamp()
    assert before - 1e-6 <= reported <= after  # stamped in the call, which did not send it
