"""Redis through Sentinel, for real: the master is killed (kill -9) under a running job.

A master, a replica and three sentinels on loopback (tests/sentinel_cluster.py); a gateway and
a worker that know only the sentinels (``TASKGATE_REDIS_SENTINELS``, ``TASKGATE_REDIS_MASTER``)
for broker, result backend, channel layer and their own clients.
"""

from __future__ import annotations

import logging
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from taskgate.models import Job
from tests.sentinel_cluster import MASTER, SentinelCluster
from tests.support import (
    PYTHON,
    TERMINAL,
    client,
    record_measurement,
    start_gateway,
    start_worker,
    wait_until,
)

pytestmark = pytest.mark.slow
logger = logging.getLogger(__name__)
WS = "/ws/jobs/"


def _is_event(job_id: str, *events: str) -> Any:
    return lambda f: f.get("job_id") == job_id and f.get("event") in events


def test_master_killed_mid_job_the_end_arrives_after_promotion_and_nothing_is_lost(
    tmp_path: Path, base_env: dict[str, str], logs_dir: Path
) -> None:
    cluster = SentinelCluster(tmp_path / "redis").start()
    assert cluster.master is not None
    logs = logs_dir / "sentinel"
    env = dict(
        base_env,
        # Only the database number comes from here: the address is the sentinels' answer.
        REDIS_URL="redis://127.0.0.1:1/0",
        TASKGATE_REDIS_SENTINELS=cluster.sentinel_setting,
        TASKGATE_REDIS_MASTER=MASTER,
    )
    procs = []
    try:
        worker = start_worker(env, logs, name="sentinel-worker", concurrency=2)
        procs.append(worker)
        gateway = start_gateway(env, logs, name="sentinel-gateway")
        procs.append(gateway.proc)
        with client(gateway.ws + WS) as c:
            job_id = c.submit("demo.echo", {"task_id": "through", "seconds": 6})
            c.recv_until(_is_event(job_id, "progress"))

            marker = f"during-{uuid.uuid4()}"
            cluster.master.kill()  # kill -9 of the master
            killed, killed_at = time.monotonic(), time.time()
            # A submit during the failover: accepted (then it runs) or refused as unavailable,
            # never half-done.
            during = c.request(
                {"op": "submit", "job": "demo.echo", "params": {"task_id": marker, "seconds": 0}},
                timeout=30,
            )
            next_event = c.recv_until(_is_event(job_id, "progress", *TERMINAL), timeout=60)
            delay = time.monotonic() - killed
            record_measurement("sentinel: master kill -9 to next delivered event", delay, "s")
            logger.warning("master kill -9 -> next delivered event: %.2f s", delay)
            print(f"\nmaster kill -9 -> next delivered event: {delay:.2f} s")  # noqa: T201

            frames = c.until_terminal(job_id, timeout=60)
            assert frames[-1]["event"] == "success", frames[-1]
            assert frames[-1]["result"] == "through"
            assert next_event

            wait_until(
                lambda: cluster.master_port_named() == cluster.replica_port, 30, "the promotion"
            )
            promoted = cluster.switched_at() - killed_at
            record_measurement("sentinel: master kill -9 to +switch-master", promoted, "s")
            print(f"master kill -9 -> +switch-master (sentinel's log): {promoted:.2f} s")  # noqa: T201
            print(f"a submit during the failover: {during['event']} {during.get('code', '')}")  # noqa: T201
            # Not half-done: the job runs to its end, or it left no row behind.
            rows = Job.objects.filter(params__task_id=marker)
            if during["event"] == "accepted":
                end = c.until_terminal(str(during["job_id"]), timeout=60)[-1]
                assert end["event"] == "success", end
                wait_until(lambda: rows.filter(state="success").exists(), 10, "its row's end")
            else:
                assert during["event"] == "error", during
                assert during["code"] == "unavailable", during
                assert not rows.exists()

            # After the promotion: jobs run as ever, several at once.
            after = [c.submit("demo.echo", {"task_id": i, "seconds": 0.2}) for i in range(4)]
            for i, later in enumerate(after):
                end = c.until_terminal(later, timeout=30)[-1]
                assert end["event"] == "success", end
                assert end["result"] == i
        # The gateway and the worker talk to the promoted replica now.
        doctor = subprocess.run(
            [*PYTHON, "doctor", "--timeout", "5"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert f"127.0.0.1:{cluster.replica_port} as master" in doctor.stdout, doctor.stdout
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    finally:
        for proc in procs:
            if proc.alive():
                proc.kill_group()
        cluster.stop()
