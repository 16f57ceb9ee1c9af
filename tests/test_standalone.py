"""Standalone next to a team's project (like Flower): ``taskgate up --app --jobs --no-examples``.

The team's package lives in its own directory, not in taskgate: its Celery app and a module
of ``@taskgate.job`` declarations. ``taskgate up`` takes both by name, without an edit of
taskgate's source, and leaves the shipped examples out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskgate.cli.redis_server import free_port
from tests.support import client, http_json, wait_until

pytestmark = pytest.mark.slow

TEAM_CELERY = """
import os
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskgate.serve.settings")
app = Celery("team")
app.config_from_object("django.conf:settings", namespace="CELERY")
"""

TEAM_JOBS = """
from pydantic import BaseModel, Field

import taskgate


class CountParams(BaseModel):
    to: int = Field(ge=1, le=100)


@taskgate.job("team.count", params=CountParams, description="Counts to `to`.")
def count(params: CountParams) -> int:
    import time

    for n in range(1, params.to + 1):
        time.sleep(0.06)
        taskgate.report_progress(n, params.to, f"{n}")
    return params.to
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    project = tmp_path_factory.mktemp("team")
    (project / "teamapp").mkdir()
    (project / "teamapp" / "__init__.py").write_text("")
    (project / "teamapp" / "celery.py").write_text(TEAM_CELERY)
    (project / "teamapp" / "jobs.py").write_text(TEAM_JOBS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "TASKGATE_"))}
    port = free_port()
    log_path = project / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "taskgate", "up", "--port", str(port), "--no-flower",
             "--app", "teamapp.celery:app", "--jobs", "teamapp.jobs", "--no-examples"],
            cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(
            lambda: "press Ctrl-C to stop" in log_path.read_text() or up.poll() is not None,
            120,
            "taskgate up ready",
        )
        assert up.poll() is None, log_path.read_text()[-3000:]
        yield port, log_path
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()


def test_only_the_teams_jobs_are_offered(stack: tuple[int, Path]) -> None:
    port, _ = stack
    status, _, body = http_json("GET", f"http://127.0.0.1:{port}/api/job-types")
    assert status == 200
    assert [job["name"] for job in body["job_types"]] == ["team.count"]


def test_the_teams_job_runs_on_the_teams_celery_app_with_progress(
    stack: tuple[int, Path],
) -> None:
    port, log_path = stack
    with client(f"ws://127.0.0.1:{port}/ws/jobs/") as c:
        job_id = c.submit("team.count", {"to": 10})
        frames = c.until_terminal(job_id, timeout=60)
        refused = c.request({"op": "submit", "job": "demo.echo", "params": {"task_id": 1}})
    assert frames[-1]["event"] == "success"
    assert frames[-1]["result"] == 10
    assert any(f["event"] == "progress" for f in frames)
    assert refused["code"] == "unknown_job"  # --no-examples: the demo jobs are not there
    assert ".> app:         team:" in log_path.read_text()  # the worker runs the team's app
