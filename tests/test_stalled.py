"""Stalled is not lost: a job whose worker lives but that stops reporting progress is
announced as ``stalled`` (once, by one of several gateways) and un-stalled by its next
progress; snapshots say so meanwhile. Real worker, two real gateways on one Redis."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tests.fault_stack import FaultStack
from tests.support import assert_seq_increasing, bearer, client, record_measurement

STACK_ENV = {
    # The sweep runs once per lease period: 1 s here.
    "TASKGATE_LEASE_SECONDS": "1",
    "TASKGATE_STALL_FLOOR": "1.0",
    "TASKGATE_STALL_MULTIPLE": "5",
}


def _when(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def test_a_silent_job_is_stalled_then_resumes(stack: FaultStack, make_token: Any) -> None:
    stack.worker("worker", concurrency=1, env=STACK_ENV)
    first = stack.gateway("gateway-a", env=STACK_ENV)
    second = stack.gateway("gateway-b", env=STACK_ENV)
    headers = bearer(make_token("stall-watcher"))
    with (
        client(f"{first.ws}/ws/jobs/", additional_headers=headers) as a,
        client(f"{second.ws}/ws/jobs/", additional_headers=headers) as b,
    ):
        job_id = a.submit("demo.pause", {"before": 5, "pause": 4.0, "after": 2, "step": 0.1})
        assert b.request({"op": "watch", "job_id": job_id})["event"] == "snapshot"
        stalled = a.recv_until(lambda f: f.get("event") == "stalled", timeout=30)[0]
        seen_by_b = b.recv_until(lambda f: f.get("event") == "stalled", timeout=30)[0]
        assert seen_by_b["seq"] == stalled["seq"]
        # A snapshot taken now says so, with the time of the last progress.
        snap = b.request({"op": "watch", "job_id": job_id})
        assert snap["event"] == "snapshot"
        assert snap["state"] == "running"
        assert snap["stalled_since"] == stalled["stalled_since"]
        frames = a.until_terminal(job_id, timeout=30)
        b_frames = b.until_terminal(job_id, timeout=30)

    everything = [f for f in a.received if f.get("job_id") == job_id]
    assert_seq_increasing([f for f in everything if f.get("event") != "error"])
    before = [f for f in everything if f.get("event") == "progress" and f["seq"] < stalled["seq"]]
    assert before
    assert before[-1]["progress"]["current"] == 5
    assert stalled["stalled_since"] == before[-1]["ts"]
    assert stalled["progress"]["current"] == 5
    silent = (_when(stalled["ts"]) - _when(stalled["stalled_since"])).total_seconds()
    record_measurement("stalled: silence before the stalled event (threshold 1 s)", silent, "s")
    # The next progress un-stalls it; the job ends as usual (not lost).
    resumed = [f for f in frames if f.get("event") == "progress" and f["seq"] > stalled["seq"]]
    assert resumed
    assert resumed[0]["progress"]["current"] == 6
    assert frames[-1]["event"] == "success"
    assert [f["event"] for f in b_frames][-1] == "success"
    # One stall, announced once: each watcher got exactly one stalled event, and one
    # gateway marked it.
    assert sum(f.get("event") == "stalled" for f in everything) == 1
    assert sum(f.get("event") == "stalled" for f in b.received) == 1
    marked = [
        len(re.findall(f"job={job_id} state=stalled seq=\\d+ silent=", g.proc.log()))
        for g in (first, second)
    ]
    assert sorted(marked) == [0, 1], marked
    # Rate and time left came with every progress.
    assert all(f["progress"]["rate"] and f["progress"]["unit"] == "steps" for f in before[1:])
    assert before[-1]["progress"]["eta"] is not None
