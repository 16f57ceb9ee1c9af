"""Composite jobs (a group of parts, then a merge) through the real worker, gateway and Redis.

The shared gateway's fallback poll runs once an hour, so every frame here was pushed.
"""

from __future__ import annotations

import io
import itertools
import time
import zipfile
from collections.abc import Callable
from typing import Any

from taskgate.events.redis_client import result_redis
from taskgate.serve.celery_app import app
from tests.support import Gateway, assert_seq_increasing, bearer, client, http_get, http_json

TERMINAL_PART_STATES = {"success", "failure", "cancelled"}


def _backend_status(job_id: str) -> str:
    backend: Any = app.backend
    return str(backend.get_task_meta(job_id)["status"])


def _wait_until_ended(pubsub: Any, part_ids: list[str], timeout: float) -> dict[str, str]:
    """Each part's end status in the backend, waiting on the backend's own PUBLISH of every
    stored state (``pubsub`` was subscribed to the parts' keys before the cancel)."""
    backend: Any = app.backend
    ended = {"SUCCESS", "FAILURE", "REVOKED"}
    statuses = {part_id: _backend_status(part_id) for part_id in part_ids}
    deadline = time.monotonic() + timeout
    while not ended >= set(statuses.values()):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"parts still not ended: {statuses}"
        message = pubsub.get_message(timeout=remaining)
        if message is None or message["type"] != "message":
            continue
        meta = backend.decode(message["data"])
        statuses[str(meta["task_id"])] = str(meta["status"])
    return statuses


def _running_task_ids() -> set[str]:
    """Every task id a live worker says it is executing now (Celery inspect)."""
    active = app.control.inspect(timeout=3.0).active() or {}
    return {str(task["id"]) for tasks in active.values() for task in tasks}


def test_bundle_of_four_parts_succeeds_with_overall_progress_never_going_back(
    gateway: Gateway, make_token: Callable[..., str]
) -> None:
    regions = ["north", "south", "east", "west"]
    token = make_token("bundle-owner")
    with client(f"{gateway.ws}/ws/jobs/?token={token}") as c:
        job_id = c.submit("reports.bundle", {"regions": regions, "rows": 60_000, "seed": 3})
        frames = c.until_terminal(job_id, timeout=120)
    assert frames[-1]["event"] == "success", frames[-1]
    assert_seq_increasing(frames)
    progress = [f for f in frames if f["event"] == "progress"]
    percents = [f["progress"]["percent"] for f in progress]
    assert all(a <= b for a, b in itertools.pairwise(percents)), percents
    assert percents[-1] == 100.0
    # Each progress event lists every part; each part's bar also only grows.
    for frame in progress:
        assert [p["name"] for p in frame["parts"]] == regions
    for index in range(4):
        done = [f["parts"][index]["done"] for f in progress]
        assert all(a <= b for a, b in itertools.pairwise(done))
    # The parts ran in parallel: some event shows two of them running at once.
    assert any(sum(p["state"] == "running" for p in f["parts"]) >= 2 for f in progress)
    assert any(f["progress"]["message"].startswith("merging") for f in progress)
    result = frames[-1]["result"]
    assert result["regions"] == regions
    # The merge step zipped one CSV per region; the zip is the job's artifact.
    status, headers, body = http_get(
        f"{gateway.http}/api/jobs/{job_id}/artifact", headers=bearer(token)
    )
    assert status == 200
    assert headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        assert len(names) == 4
        for region, name in zip(regions, names, strict=True):
            assert f"-{region}-" in name
            lines = archive.read(name).decode().splitlines()
            assert len(lines) == 12 * 24 + 1
            assert all(f",{region}," in line for line in lines[1:])
    part_ids = [p["job_id"] for p in progress[-1]["parts"]]
    assert {_backend_status(part_id) for part_id in part_ids} == {"SUCCESS"}


def test_bundle_with_a_failing_part_fails_naming_the_part(gateway: Gateway) -> None:
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.bundle", {"parts": 3, "seconds": 3.0, "fail_part": 2})
        frames = c.until_terminal(job_id, timeout=60)
        snapshot = c.request({"op": "watch", "job_id": job_id})
    end = frames[-1]
    assert end["event"] == "failure", end
    assert end["error"]["part"] == "part-2"
    assert end["error"]["type"] == "DemoFailure"
    assert end["error"]["message"] == "part 'part-2' failed: part 2 broke"
    assert_seq_increasing(frames)
    assert [f["event"] for f in frames].count("failure") == 1
    # The snapshot agrees with the pushed end, and shows which part failed.
    assert snapshot["state"] == "failure"
    assert snapshot["seq"] == end["seq"]
    assert snapshot["error"] == end["error"]
    states = {p["name"]: p["state"] for p in snapshot["parts"]}
    assert states["part-2"] == "failure"
    assert states["part-1"] == states["part-3"] == "cancelled"


def test_cancel_mid_way_ends_cancelled_with_no_part_left_running(gateway: Gateway) -> None:
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.bundle", {"parts": 4, "seconds": 30.0})
        # Wait until some part has made progress: the job is mid-way.
        midway = c.take(
            lambda f: f.get("job_id") == job_id,
            lambda f: (
                f.get("event") == "progress" and any((p.get("done") or 0) > 0 for p in f["parts"])
            ),
            timeout=60,
        )[-1]
        part_ids = [p["job_id"] for p in midway["parts"]]
        backend: Any = app.backend
        pubsub = result_redis().pubsub()  # type: ignore[no-untyped-call]
        pubsub.subscribe(*(backend.get_key_for_task(part_id) for part_id in part_ids))
        c.send({"op": "cancel", "job_id": job_id, "ref": "stop"})
        frames = c.until_terminal(job_id, timeout=30)
        snapshot = c.request({"op": "watch", "job_id": job_id})
        # Every part ends in the backend as revoked: started ones were terminated, queued
        # ones dropped when a worker got them.
        statuses = _wait_until_ended(pubsub, part_ids, timeout=30)
        pubsub.close()
    assert frames[-1]["event"] == "cancelled"
    assert [f["event"] for f in frames].count("cancelled") == 1
    assert snapshot["state"] == "cancelled"
    assert [p["job_id"] for p in snapshot["parts"]] == part_ids
    assert {p["state"] for p in snapshot["parts"]} == {"cancelled"}
    assert set(statuses.values()) == {"REVOKED"}
    assert not set(part_ids) & _running_task_ids()
    assert _backend_status(job_id) == "REVOKED"


def test_late_watch_gets_every_part_in_its_snapshot(
    gateway: Gateway, make_token: Callable[..., str]
) -> None:
    token = make_token("bundle-watcher")
    status, _, accepted = http_json(
        "POST",
        f"{gateway.http}/api/jobs",
        {"job": "demo.bundle", "params": {"parts": 3, "seconds": 4.0}},
        headers=bearer(token),
    )
    assert status == 202
    job_id = accepted["job_id"]
    url = f"{gateway.ws}/ws/jobs/?token={token}"
    with client(url) as early:
        early.request({"op": "watch", "job_id": job_id})
        first = early.take(
            lambda f: f.get("job_id") == job_id,
            lambda f: (
                f.get("event") == "progress" and any(p["state"] == "running" for p in f["parts"])
            ),
            timeout=60,
        )[-1]
        with client(url) as late:
            snapshot = late.request({"op": "watch", "job_id": job_id})
            frames = late.until_terminal(job_id, timeout=60)
    assert snapshot["event"] == "snapshot"
    assert snapshot["state"] == "running"
    assert snapshot["seq"] >= first["seq"]
    assert [p["name"] for p in snapshot["parts"]] == ["part-1", "part-2", "part-3"]
    for part in snapshot["parts"]:
        assert part["state"] in {"queued", "running", "success"}
        assert part["job"] == "demo.echo"
    assert any(p["state"] == "running" for p in snapshot["parts"])
    assert frames[-1]["event"] == "success"
    assert frames[-1]["result"] == 1 + 2 + 3
    assert_seq_increasing(frames)
    # After the end, a watch (and the HTTP snapshot) lists every part as done.
    with client(url) as after:
        ended = after.request({"op": "watch", "job_id": job_id})
    assert ended["state"] == "success"
    assert ended["seq"] == frames[-1]["seq"]
    assert {p["state"] for p in ended["parts"]} == {"success"}
    status, _, body = http_json("GET", f"{gateway.http}/api/jobs/{job_id}", headers=bearer(token))
    assert status == 200
    assert body["parts"] == ended["parts"]
