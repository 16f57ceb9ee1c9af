"""``taskgate up`` supervises: a dead part is restarted, the rest and their sockets stay up.

kill -9 of the worker: the job it ran ends ``lost`` on the open socket, a job nobody watches
ends ``lost`` too (the gateways' sweep, no one asks), the jobs it had taken but not started
run on the restarted worker, and new jobs run. kill -9 of the embedded Redis: it is restarted
and jobs run again. A part that keeps dying stops the stack, naming it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskgate.cli.redis_server import free_port
from tests.support import (
    TERMINAL,
    client,
    http_get,
    http_json,
    record_measurement,
    wait_until,
)

pytestmark = pytest.mark.slow

QUICK = {
    "TASKGATE_LEASE_SECONDS": "2",
    "TASKGATE_FALLBACK_INTERVAL": "0.5",
    "TASKGATE_VISIBILITY_TIMEOUT": "4",
    "TASKGATE_UNACKED_RESTORE_INTERVAL": "1",
}


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pid_of(self, part: str) -> int:
        started = re.findall(rf"started {part} \(pid (\d+)\)", self.log())
        return int(started[-1])

    def wait_for(self, text: str, count: int = 1, timeout: float = 60) -> None:
        wait_until(lambda: self.log().count(text) >= count, timeout, repr(text))


def _up(tmp_path: Path, *extra: str) -> Up:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "TASKGATE_"))}
    env.update(QUICK)
    port = free_port()
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "taskgate", "up", "--port", str(port), "--no-flower",
             "--data-dir", str(tmp_path / "data"), "--concurrency", "2", *extra],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    up = Up(process, port, log_path)
    wait_until(lambda: "press Ctrl-C to stop" in up.log() or process.poll() is not None, 120, "up")
    assert process.poll() is None, up.log()[-3000:]
    return up


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    stack = _up(tmp_path)
    yield stack
    if stack.process.poll() is None:
        os.killpg(stack.process.pid, signal.SIGTERM)
        stack.process.wait(60)


def _session(up: Up) -> dict[str, str]:
    """An anonymous session of the page, so HTTP reads and the socket share an owner."""
    _, headers, _ = http_get(f"http://127.0.0.1:{up.port}/")
    cookie = next(c for c in headers["set-cookie"].split(", ") if c.startswith("sessionid="))
    return {"Cookie": cookie.split(";")[0]}


def _state(up: Up, job_id: str, session: dict[str, str]) -> str:
    url = f"http://127.0.0.1:{up.port}/api/jobs/{job_id}"
    return str(http_json("GET", url, headers=session)[2]["state"])


def test_a_killed_worker_is_restarted_and_its_jobs_end_or_run(up: Up) -> None:
    ws = f"ws://127.0.0.1:{up.port}/ws/jobs/"
    session = _session(up)
    with client(ws, additional_headers=session) as c:
        watched = c.submit("demo.echo", {"task_id": "watched", "seconds": 60})
        unwatched = c.submit("demo.echo", {"task_id": "unwatched", "seconds": 60})
        c.send({"op": "unwatch", "job_id": unwatched})  # unwatch has no answer
        c.recv_until(lambda f: f.get("job_id") == watched and f.get("event") == "progress")
        taken = [c.submit("demo.echo", {"task_id": f"taken-{i}", "seconds": 0.2}) for i in range(3)]
        wait_until(
            lambda: _state(up, unwatched, session) == "running", 30, "both long jobs running"
        )
        os.killpg(up.pid_of("worker"), signal.SIGKILL)
        killed = time.monotonic()
        end = c.until_terminal(watched, timeout=60)[-1]
        record_measurement("worker kill -9 under up to lost event", time.monotonic() - killed, "s")
        assert (end["event"], end["error"]["type"]) == ("failure", "lost")
        # Nobody watches this one: the sweep settles it all the same.
        wait_until(
            lambda: _state(up, unwatched, session) == "failure", 30, "the unwatched job settled"
        )
        up.wait_for("worker restarted")
        # What the dead worker had taken, and what was still queued, runs on the new one.
        for job_id in taken:
            c.request({"op": "watch", "job_id": job_id})
        ends = {job_id: c.until_terminal(job_id, timeout=60)[-1] for job_id in taken}
        assert {e.get("state", e["event"]) for e in ends.values()} <= {"success"}
        record_measurement("worker kill -9 to its taken jobs done", time.monotonic() - killed, "s")
        after = c.submit("demo.echo", {"task_id": "after", "seconds": 0})
        assert c.until_terminal(after, timeout=30)[-1]["result"] == "after"
    assert "worker exited unexpectedly (status -9)" in up.log()
    assert up.process.poll() is None  # the stack is still up


def test_a_killed_embedded_redis_is_restarted(up: Up) -> None:
    redis_pid = int(re.findall(r"embedded Redis on \S+ \(pid (\d+)\)", up.log())[-1])
    os.kill(redis_pid, signal.SIGKILL)
    up.wait_for("embedded Redis restarted")
    ws = f"ws://127.0.0.1:{up.port}/ws/jobs/"

    def runs() -> bool:
        with client(ws) as c:
            job_id = c.submit("demo.echo", {"task_id": "again", "seconds": 0})
            return bool(c.until_terminal(job_id, timeout=20)[-1].get("event") in TERMINAL)

    wait_until(runs, 60, "a job runs after the Redis restart")
    assert "embedded Redis exited unexpectedly" in up.log()


def test_a_part_that_keeps_dying_stops_the_stack_naming_it(tmp_path: Path) -> None:
    up = _up(tmp_path, "--restart-limit", "2")
    try:
        os.killpg(up.pid_of("worker"), signal.SIGKILL)
        up.wait_for("worker restarted")
        up.wait_for("started worker", count=2)
        os.killpg(up.pid_of("worker"), signal.SIGKILL)
        assert up.process.wait(60) == 1
    finally:
        if up.process.poll() is None:
            os.killpg(up.process.pid, signal.SIGKILL)
    assert "worker exited (status -9) 2 times within 60s: stopping the stack" in up.log()
