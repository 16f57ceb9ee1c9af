"""``taskgate up`` from a clean directory without REDIS_URL: ready, runs a job, stops clean."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from taskgate.cli.redis_server import free_port
from tests.support import client, http_get, wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes, but only its parent can reap it.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = Path(f"/proc/{parent}/task/{parent}/children")
        if children.exists():
            for child in children.read_text().split():
                found.add(int(child))
                frontier.append(int(child))
    return found


@pytest.mark.slow
def test_up_runs_the_whole_stack_and_leaves_no_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "TASKGATE_"))}
    port, flower_port = free_port(), free_port()
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "taskgate", "up", "--port", str(port),
             "--flower-port", str(flower_port), "--data-dir", str(tmp_path / "data"),
             "--stop-timeout", "10"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, like a shell job
        )  # fmt: skip
    try:
        wait_until(lambda: "press Ctrl-C to stop" in log_path.read_text(), 120, "taskgate up ready")
        output = log_path.read_text()
        assert "embedded Redis" in output
        assert f"http://127.0.0.1:{port}/" in output
        assert f"http://127.0.0.1:{flower_port}/" in output
        assert (tmp_path / "data" / "redis").is_dir()
        children = _descendants(up.pid)
        assert len(children) >= 4  # redis, gateway, flower, worker (+ its pool)
        assert http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        assert http_get(f"http://127.0.0.1:{flower_port}/")[0] == 200

        # A second terminal next to it finds the stack's own Redis and gateway, not the
        # defaults (the machine may have a Redis on 6379, and the port here is not 8000).
        stack = json.loads((tmp_path / "data" / "stack.json").read_text())
        assert stack["redis_url"] in output
        assert stack["ws_url"] == f"ws://127.0.0.1:{port}"
        beside = dict(env, TASKGATE_DATA_DIR=str(tmp_path / "data"))
        doctor = subprocess.run(
            [sys.executable, "-m", "taskgate", "doctor", "--timeout", "10"],
            env=beside, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert f"Redis at {stack['redis_url']}" in doctor.stderr
        assert "worker(s) answered" in doctor.stdout
        submitted = subprocess.run(
            [sys.executable, "-m", "taskgate", "submit", "demo.echo", "-p", "task_id=beside",
             "-p", "seconds=0"],
            env=beside, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stderr
        assert submitted.stdout.strip() == '"beside"'
        with client(f"ws://127.0.0.1:{port}/ws/jobs/") as c:
            job_id = c.submit("demo.echo", {"task_id": "up", "seconds": 0.5})
            assert c.until_terminal(job_id)[-1]["result"] == "up"
            # A terminal's Ctrl-C reaches the whole foreground process group: only the
            # supervisor may act on it, and it stops the parts in order, Redis last.
            os.killpg(up.pid, signal.SIGINT)
            with pytest.raises(ConnectionClosed) as closed:
                c.recv(timeout=20)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
        assert up.wait(60) == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    leftovers = [pid for pid in children if _alive(pid)]
    assert not leftovers, f"processes left running: {leftovers}\n{log_path.read_text()[-3000:]}"
    output = log_path.read_text()
    assert re.search(r"stopped worker\n(.|\n)*stopped embedded Redis", output)
    # The worker stopped while Redis was still there to take its goodbyes.
    assert "Connection refused" not in output, output[-3000:]
    assert not (tmp_path / "data" / "stack.json").exists()  # gone with the stack
