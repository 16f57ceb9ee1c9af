"""The composite aggregate script (taskgate.worker.aggregate) against the real Redis, no worker."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from taskgate.contract.keys import seq_key
from taskgate.contract.wire import make_progress
from taskgate.events.redis_client import result_redis
from taskgate.serve.celery_app import app
from taskgate.worker.aggregate import initial_doc, load_doc, save_doc, update


@pytest.fixture
def parent() -> str:
    job_id = f"parts-{uuid.uuid4()}"
    parts = [
        {"name": "small", "job": "demo.echo", "job_id": f"{job_id}-1", "weight": 100},
        {"name": "large", "job": "demo.echo", "job_id": f"{job_id}-2", "weight": 300},
    ]
    save_doc(initial_doc(job_id, "demo.bundle", {"parts": 2}, parts, merge_weight=100))
    return job_id


def _meta(job_id: str) -> dict[str, Any]:
    """The parent's stored meta, as the gateway reads it (raw JSON, no exception rebuilt)."""
    backend: Any = app.backend
    meta: dict[str, Any] = json.loads(result_redis().get(backend.get_key_for_task(job_id)) or "{}")
    return meta


def test_overall_progress_is_weighted_and_never_goes_back(parent: str) -> None:
    update(parent, "2", "running", progress=make_progress(50, 100))
    meta = _meta(parent)
    assert meta["status"] == "PARTS"
    assert meta["result"]["progress"]["percent"] == 30.0  # 300 * 0.5 of 500
    assert meta["result"]["seq"] == 1
    # A part reporting less than before (a retry starting over) keeps its high-water mark.
    update(parent, "2", "running", progress=make_progress(10, 100))
    result = _meta(parent)["result"]
    assert result["progress"]["percent"] == 30.0
    assert result["parts"][1]["done"] == 0.5
    assert result["parts"][1]["progress"]["percent"] == 10.0
    assert result["seq"] == 2
    assert int(result_redis().get(seq_key(parent)) or 0) == 2


def test_the_last_part_to_succeed_starts_the_merge_exactly_once(parent: str) -> None:
    assert update(parent, "1", "success").outcome == "progress"
    last = update(parent, "2", "success")
    assert last.outcome == "merge"
    assert last.params == {"parts": 2}
    assert last.job == "demo.bundle"
    # A duplicate end (a redelivered message) does not send the merge again.
    assert update(parent, "2", "success").outcome == "progress"
    update(parent, "merge", "running", progress=make_progress(1, 2, "zipping"))
    result = _meta(parent)
    assert result["status"] == "PROGRESS"  # the merge step holds the parent's lease now
    assert result["result"]["progress"]["percent"] == 90.0
    assert result["result"]["progress"]["message"] == "merging: zipping"


def test_a_failed_part_ends_the_job_once_and_lists_the_parts_to_revoke(parent: str) -> None:
    update(parent, "1", "running", progress=make_progress(1, 4))
    update(parent, "2", "running", progress=make_progress(1, 4))
    error = {"type": "DemoFailure", "message": "part 'small' failed: boom", "part": "small"}
    ended = update(parent, "1", "failure", error=error)
    assert ended.outcome == "failure"
    assert ended.revoke == (f"{parent}-2",)
    meta = _meta(parent)
    assert meta["status"] == "FAILURE"
    assert meta["result"]["part"] == "small"
    # Nothing changes the job after its end: not a late progress, not another end.
    assert update(parent, "2", "running", progress=make_progress(2, 4)).outcome == "ended"
    assert update(parent, "2", "cancelled").outcome == "ended"
    doc = load_doc(parent)
    assert doc is not None
    assert [part["state"] for part in doc["parts"]] == ["failure", "cancelled"]
    assert _meta(parent)["status"] == "FAILURE"
    assert json.loads(result_redis().get(seq_key(parent)) or b"0") == 2
