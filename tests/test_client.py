"""The terminal client (``taskgate submit`` / ``taskgate watch``) against the real stack."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.cookies import SimpleCookie
from typing import Any

import pytest

from taskgate.cli.client import Exit, parse_params
from tests.support import PYTHON, Gateway, assert_seq_increasing, client, http_get


def run_cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("TASKGATE_TOKEN", None)
    return subprocess.run(
        [*PYTHON, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def session_key(gateway: Gateway) -> str:
    _, headers, _ = http_get(f"{gateway.http}/")
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(headers["set-cookie"])
    return cookie["sessionid"].value


def test_params_are_json_when_they_parse_else_strings() -> None:
    assert parse_params(["n=3", "flag=true", "xs=[1, 2]", "name=abc", "empty=", "t=a=b"]) == {
        "n": 3,
        "flag": True,
        "xs": [1, 2],
        "name": "abc",
        "empty": "",
        "t": "a=b",
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_params(["novalue"])


def test_submit_success_prints_the_result_and_exits_0(gateway: Gateway) -> None:
    result = run_cli(
        "submit", "demo.echo", "--param", "task_id=cli-ok", "-p", "seconds=0.5", "--url", gateway.ws
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == '"cli-ok"'


def test_submit_failure_exits_1_and_says_why(gateway: Gateway) -> None:
    result = run_cli(
        "submit", "demo.fail", "-p", "steps=1", "-p", "seconds_per_step=0",
        "-p", "message=broken on purpose", "--url", gateway.ws,
    )  # fmt: skip
    assert result.returncode == 1
    assert "broken on purpose" in result.stderr
    assert result.stdout == ""


def test_submit_refused_exits_4(gateway: Gateway) -> None:
    result = run_cli("submit", "no.such.job", "--url", gateway.ws)
    assert result.returncode == Exit.REFUSED
    assert "unknown_job" in result.stderr
    result = run_cli("submit", "demo.echo", "-p", "seconds=-1", "--url", gateway.ws)
    assert result.returncode == Exit.REFUSED
    assert "invalid_params" in result.stderr
    # Each field's problem is named: the missing task_id and the negative seconds.
    said = " ".join(result.stderr.split())  # the console wraps long lines
    assert "task_id: Field required" in said
    assert "seconds: Input should be greater than or equal to 0" in said


def test_unreachable_gateway_exits_5() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        result = run_cli(
            "submit", "demo.echo", "-p", "task_id=1", "--url", f"ws://127.0.0.1:{port}"
        )
    assert result.returncode == Exit.UNREACHABLE
    assert "cannot reach" in result.stderr


def test_submit_json_prints_each_event_once_per_line(gateway: Gateway) -> None:
    result = run_cli(
        "submit", "demo.echo", "-p", "task_id=7", "-p", "seconds=1", "--json", "--url", gateway.ws
    )
    assert result.returncode == 0, result.stderr
    frames = events(result.stdout)
    assert frames[0]["event"] == "accepted"
    assert frames[-1]["event"] == "success"
    assert frames[-1]["result"] == 7
    assert {f["job_id"] for f in frames} == {frames[0]["job_id"]}
    assert "running" in {f["event"] for f in frames}
    assert any(f["event"] == "progress" for f in frames)
    assert_seq_increasing(frames)


def test_watch_follows_a_job_of_the_same_session(gateway: Gateway) -> None:
    key = session_key(gateway)
    with client(f"{gateway.ws}/ws/jobs/", additional_headers={"Cookie": f"sessionid={key}"}) as c:
        job_id = c.submit("demo.echo", {"task_id": "watched", "seconds": 1})
        result = run_cli("watch", job_id, "--session", key, "--json", "--url", gateway.ws)
    assert result.returncode == 0, result.stderr
    frames = events(result.stdout)
    assert frames[0]["event"] == "snapshot"
    assert frames[-1]["job_id"] == job_id
    assert frames[-1].get("result") == "watched"
    assert_seq_increasing(frames)
    # A job of another session is refused, with its own exit code.
    other = run_cli("watch", job_id, "--url", gateway.ws)
    assert other.returncode == Exit.REFUSED
    assert "forbidden" in other.stderr


def test_watch_of_a_cancelled_job_exits_3(gateway: Gateway) -> None:
    key = session_key(gateway)
    with client(f"{gateway.ws}/ws/jobs/", additional_headers={"Cookie": f"sessionid={key}"}) as c:
        job_id = c.submit("demo.echo", {"task_id": "x", "seconds": 60})
        watcher = subprocess.Popen(
            [*PYTHON, "watch", job_id, "--session", key, "--json", "--url", gateway.ws],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert watcher.stdout is not None
            first = json.loads(watcher.stdout.readline())  # the watch is in place
            assert first["event"] == "snapshot"
            c.send({"op": "cancel", "job_id": job_id})
            out, err = watcher.communicate(timeout=60)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait()
    assert watcher.returncode == 3, err
    assert events(out)[-1]["event"] == "cancelled"
    assert "cancelled" in err


class CuttableProxy:
    """A TCP forwarder the test can cut: every open connection is dropped at once."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self.accepted += 1
                self._open += [downstream, upstream]
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            for sock in self._open:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def close(self) -> None:
        self.server.close()
        self.cut()


@contextmanager
def proxy_to(gateway: Gateway) -> Iterator[CuttableProxy]:
    proxy = CuttableProxy(gateway.port)
    try:
        yield proxy
    finally:
        proxy.close()


def test_watch_reconnects_once_after_a_dropped_socket(gateway: Gateway) -> None:
    with proxy_to(gateway) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}"
        watcher = subprocess.Popen(
            [*PYTHON, "submit", "demo.echo", "-p", "task_id=again", "-p", "seconds=3",
             "--json", "--url", url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert watcher.stdout is not None
            seen = [json.loads(watcher.stdout.readline())]
            assert seen[0]["event"] == "accepted"
            while seen[-1]["event"] != "progress":
                seen.append(json.loads(watcher.stdout.readline()))
            proxy.cut()
            rest, err = watcher.communicate(timeout=60)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait()
    assert watcher.returncode == 0, err
    frames = seen + events(rest)
    assert "watching" in err
    assert "connection lost" in err
    assert frames[-1]["event"] == "success"
    assert frames[-1]["result"] == "again"
    snapshots = [f for f in frames if f["event"] == "snapshot"]
    assert len(snapshots) == 1  # the re-watch after the drop
    # Nothing shown twice: seqs only go up across the reconnect.
    assert_seq_increasing([f for f in frames if f["event"] != "snapshot"])


def test_cli_help_documents_the_exit_codes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "taskgate", "submit", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "3 cancelled" in result.stdout


def test_exit_codes_are_the_documented_numbers() -> None:
    assert [int(code) for code in Exit] == [0, 1, 3, 4, 5, 6]
