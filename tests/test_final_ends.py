"""End states are final: a paused worker that comes back cannot change a job's end.

SIGSTOP of the worker (its pool too) mid-job: its lease expires, the gateway settles the job
as ``lost``; after SIGCONT the job runs on to its end, and every store of the worker
(progress, then Celery's SUCCESS) is refused. The socket, a fresh watch, the snapshot, the
list and the database row all say ``failure``/``lost``, and stay so.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from tests.fault_stack import FaultStack
from tests.support import bearer, client, http_json, record_measurement, wait_until

pytestmark = pytest.mark.slow

QUICK_LEASE = {"TASKGATE_LEASE_SECONDS": "2", "TASKGATE_FALLBACK_INTERVAL": "0.5"}


def test_a_worker_paused_past_its_lease_cannot_change_the_lost_end(
    stack: FaultStack, make_token: Callable[..., str]
) -> None:
    from taskgate.models import Job

    token = make_token("paused")
    worker = stack.worker("worker-paused", env=QUICK_LEASE)
    gateway = stack.gateway("gateway", env=QUICK_LEASE)
    headers = bearer(token)
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=headers) as c:
        job_id = c.submit("demo.echo", {"task_id": "paused", "seconds": 6})
        c.recv_until(lambda f: f.get("event") == "progress")
        os.killpg(worker.pid, signal.SIGSTOP)  # the whole worker, pool included
        stopped = time.monotonic()
        try:
            end = c.until_terminal(job_id, timeout=30)[-1]
            record_measurement(
                "worker SIGSTOP to lost event (2 s lease)", time.monotonic() - stopped, "s"
            )
        finally:
            os.killpg(worker.pid, signal.SIGCONT)
        assert (end["event"], end["error"]["type"]) == ("failure", "lost")
        # The worker wakes, reports on and returns: each of its stores is refused.
        wait_until(lambda: "state=success discarded" in worker.log(), 30, "the late end refused")
        assert "state=progress discarded" in worker.log()
        # Nothing more reached the watcher after its end.
        with pytest.raises(TimeoutError):
            c.recv(timeout=1.0)
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=headers) as fresh:
        again = fresh.request({"op": "watch", "job_id": job_id})
    assert (again["state"], again["error"]["type"], again["seq"]) == ("failure", "lost", end["seq"])
    status, _, snapshot = http_json("GET", f"{gateway.http}/api/jobs/{job_id}", headers=headers)
    assert (status, snapshot["state"], snapshot["seq"]) == (200, "failure", end["seq"])
    _, _, page = http_json("GET", f"{gateway.http}/api/jobs?limit=100", headers=headers)
    (item,) = [i for i in page["items"] if i["job_id"] == job_id]
    assert item["state"] == "failure"
    assert Job.objects.get(id=job_id).state == "failure"
