"""Flower alongside: it learns of a job run through the gateway from Celery's task events."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from taskgate.cli.redis_server import free_port
from tests.support import PYTHON, Gateway, Proc, client, http_get, wait_until

AUTH = "flower-user:flower-secret"
HEADERS = {"Authorization": "Basic " + base64.b64encode(AUTH.encode()).decode()}


def test_events_are_enabled_on_both_sides() -> None:
    from taskgate.serve.celery_app import app

    assert app.conf.worker_send_task_events is True
    assert app.conf.task_send_sent_event is True


@pytest.mark.slow
def test_flower_api_lists_a_job_run_through_the_gateway(
    base_env: dict[str, str], logs_dir: Path, gateway: Gateway, worker: Proc
) -> None:
    port = free_port()
    env = dict(base_env, FLOWER_BASIC_AUTH=AUTH)
    flower = Proc(
        "flower", [*PYTHON, "flower", "--port", str(port)], env, logs_dir / "flower.log"
    ).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_get(f"{base}/healthcheck")[0] == 200, 60, "flower up")
        # Its event receiver is live once a worker heartbeat (every 2 s) marked one online.
        wait_until(
            lambda: "flower_worker_online{" in http_get(f"{base}/metrics", HEADERS)[2].decode(),
            60,
            "flower receiving events",
        )
        assert http_get(f"{base}/api/tasks")[0] == 401  # basic auth is on

        with client(f"{gateway.ws}/ws/jobs/") as c:
            job_id = c.submit("demo.echo", {"task_id": "flower", "seconds": 0.5})
            assert c.until_terminal(job_id)[-1]["event"] == "success"

        def seen() -> dict[str, Any] | None:
            status, _, body = http_get(f"{base}/api/task/info/{job_id}", HEADERS)
            info: dict[str, Any] = json.loads(body) if status == 200 else {}
            return info if info.get("state") == "SUCCESS" else None

        info = wait_until(seen, 30, "flower seeing the job's end")
        assert info["name"] == "demo.echo"
        assert info["result"] == "'flower'"
        assert info["sent"] is not None  # the gateway's task-sent event
        assert info["started"] is not None  # the worker's events
        status, _, body = http_get(f"{base}/api/tasks?limit=1000", HEADERS)
        assert status == 200
        assert json.loads(body)[job_id]["state"] == "SUCCESS"
    finally:
        flower.stop()
