"""The v1 protocol on ``/ws/jobs/`` against a real gateway, worker and Redis.

The shared gateway's fallback poll runs once an hour, so what these tests receive was pushed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.support import Gateway, assert_seq_increasing, client, http_get


def test_submit_streams_running_progress_and_success_in_seq_order(gateway: Gateway) -> None:
    with client(f"{gateway.ws}/ws/jobs/") as c:
        accepted = c.request(
            {"op": "submit", "job": "demo.echo", "params": {"task_id": 42, "seconds": 1}}
        )
        assert accepted["event"] == "accepted"
        assert accepted["job"] == "demo.echo"
        job_id = accepted["job_id"]
        frames = [accepted, *c.until_terminal(job_id)]
    kinds = [f["event"] for f in frames]
    assert kinds[0] == "accepted"
    assert kinds[1] == "running"
    assert kinds.count("progress") >= 2
    assert kinds[-1] == "success"
    assert frames[-1]["result"] == 42
    assert_seq_increasing(frames)
    for frame in frames:
        assert frame["job_id"] == job_id
        assert frame["ts"].endswith("Z")
        assert "." in frame["ts"]
    progress = [f["progress"] for f in frames if f["event"] == "progress"]
    assert progress[-1]["percent"] == 100.0
    assert {"current", "total", "percent", "message"} <= set(progress[0])


def test_failing_job_ends_in_failure_with_the_error(gateway: Gateway) -> None:
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit(
            "demo.fail", {"steps": 2, "seconds_per_step": 0.1, "message": "boom on purpose"}
        )
        frames = c.until_terminal(job_id)
    assert frames[-1]["event"] == "failure"
    assert frames[-1]["error"] == {"type": "DemoFailure", "message": "boom on purpose"}
    assert [f["event"] for f in frames].count("progress") == 2
    assert_seq_increasing(frames)


def test_task_id_shorthand_submits_demo_echo(gateway: Gateway) -> None:
    with client(f"{gateway.ws}/ws/jobs/") as c:
        c.send({"task_id": "abc", "seconds": 0.2, "ref": "short"})
        accepted = c.recv_until(lambda f: f.get("ref") == "short")[-1]
        assert accepted["event"] == "accepted"
        assert accepted["job"] == "demo.echo"
        frames = c.until_terminal(accepted["job_id"])
    assert frames[-1]["result"] == "abc"


def test_watch_of_a_finished_job_gets_a_terminal_snapshot(gateway: Gateway) -> None:
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.echo", {"task_id": 5, "seconds": 0.3})
        last = c.until_terminal(job_id)[-1]
        snapshot = c.request({"op": "watch", "job_id": job_id, "after": last["seq"]})
        # After a terminal snapshot nothing more comes for the job.
        c.ping()
    assert snapshot["event"] == "snapshot"
    assert snapshot["state"] == "success"
    assert snapshot["result"] == 5
    assert snapshot["seq"] == last["seq"]
    assert snapshot["job"] == "demo.echo"
    assert snapshot["progress"]["percent"] == 100.0
    assert not [
        f
        for f in c.received
        if f.get("job_id") == job_id and f is not snapshot and f["seq"] > last["seq"]
    ]


def test_session_owner_watches_from_a_second_socket(gateway: Gateway) -> None:
    status, headers, _ = http_get(f"{gateway.http}/")
    assert status == 200
    cookie = headers["set-cookie"].split(";")[0]
    assert cookie.startswith("sessionid=")
    with client(f"{gateway.ws}/ws/jobs/", additional_headers={"Cookie": cookie}) as c:
        job_id = c.submit("demo.echo", {"task_id": 8, "seconds": 0.2})
        c.until_terminal(job_id)
    with client(f"{gateway.ws}/ws/jobs/", additional_headers={"Cookie": cookie}) as again:
        snapshot = again.request({"op": "watch", "job_id": job_id})
    assert snapshot["event"] == "snapshot"
    assert snapshot["state"] == "success"


def test_late_watcher_joins_a_running_job_and_sees_it_end(gateway: Gateway) -> None:
    _status, headers, _ = http_get(f"{gateway.http}/")
    cookie = headers["set-cookie"].split(";")[0]
    with (
        client(f"{gateway.ws}/ws/jobs/", additional_headers={"Cookie": cookie}) as owner,
        client(f"{gateway.ws}/ws/jobs/", additional_headers={"Cookie": cookie}) as late,
    ):
        job_id = owner.submit("demo.echo", {"task_id": 9, "seconds": 1.5})
        owner.recv_until(lambda f: f.get("event") == "progress")
        snapshot = late.request({"op": "watch", "job_id": job_id})
        assert snapshot["state"] == "running"
        frames = [snapshot, *late.until_terminal(job_id)]
        owner.until_terminal(job_id)
    assert frames[-1]["event"] == "success"
    assert_seq_increasing(frames)


def test_idle_watcher_still_receives_events_after_15_seconds(gateway: Gateway) -> None:
    """redis-py 8's 5 s socket timeout must not kill an idle subscription (FIELD-NOTES)."""
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.fail", {"steps": 1, "seconds_per_step": 15.5, "message": "late"})
        running = c.recv_until(lambda f: f.get("event") == "running")[-1]
        started = time.monotonic()
        frames = c.until_terminal(job_id, timeout=40)
        idle = time.monotonic() - started
    assert idle >= 15  # the socket really was silent that long
    assert [f["event"] for f in frames] == ["progress", "failure"]
    assert frames[-1]["error"]["message"] == "late"
    assert_seq_increasing([running, *frames])


def test_cancel_of_a_running_job_ends_in_cancelled(gateway: Gateway) -> None:
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.echo", {"task_id": 1, "seconds": 30})
        c.recv_until(lambda f: f.get("event") == "progress")
        c.send({"op": "cancel", "job_id": job_id, "ref": "stop-it"})
        frames = c.until_terminal(job_id, timeout=20)
        assert frames[-1]["event"] == "cancelled"
        assert frames[-1]["ref"] == "stop-it"
        snapshot = c.request({"op": "watch", "job_id": job_id})
    assert snapshot["state"] == "cancelled"


def test_cancel_of_a_queued_job_ends_in_cancelled_at_once(gateway: Gateway) -> None:
    with client(f"{gateway.ws}/ws/jobs/") as c:
        # Fill the worker's three processes, then queue one more and cancel it.
        busy = [c.submit("demo.echo", {"task_id": i, "seconds": 20}) for i in range(3)]
        for job_id in busy:
            c.take(_of(job_id), lambda f: f["event"] == "running")
        queued = c.submit("demo.echo", {"task_id": 99, "seconds": 1})
        c.send({"op": "cancel", "job_id": queued})
        frames = c.until_terminal(queued, timeout=10)
        assert frames[-1]["event"] == "cancelled"
        for job_id in busy:
            c.send({"op": "cancel", "job_id": job_id})
        for job_id in busy:
            c.until_terminal(job_id, timeout=20)


def _of(job_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("job_id") == job_id
