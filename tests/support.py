"""Helpers for tests that run the real thing: processes, readiness, a WebSocket client."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from taskgate.cli.redis_server import free_port

TERMINAL = {"success", "failure", "cancelled"}
PYTHON = [sys.executable, "-m", "taskgate"]


@dataclass
class Proc:
    """A child process whose output goes to a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        # Its own process group, so a fault test can kill the whole of it (a worker's pool too).
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return self

    def kill_group(self) -> None:
        """SIGKILL the process and everything it started (a worker and its pool)."""
        assert self.process is not None
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Start-up waits only (a process coming up); tests of behaviour wait on events."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:
            last = exc
        else:
            if result:
                return result
        time.sleep(interval)
    raise TimeoutError(f"{what} not within {timeout}s (last: {last!r})")


def http_get(
    url: str, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def stack_env(base: dict[str, str], **overrides: str) -> dict[str, str]:
    env = dict(base)
    env.update(overrides)
    return env


@dataclass
class Gateway:
    proc: Proc
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def start_gateway(
    env: dict[str, str],
    logs: Path,
    name: str = "gateway",
    ready: bool = True,
    port: int | None = None,
) -> Gateway:
    """Start a gateway (on ``port``, e.g. to restart one in place, else on a free port)."""
    port = port or free_port()
    proc = Proc(name, [*PYTHON, "gateway", "--port", str(port)], env, logs / f"{name}.log").start()
    gateway = Gateway(proc, port)
    try:
        if ready:
            wait_until(lambda: http_get(f"{gateway.http}/readyz")[0] == 200, 30, f"{name} ready")
        else:
            wait_until(lambda: http_get(f"{gateway.http}/healthz")[0] == 200, 30, f"{name} up")
    except TimeoutError:
        proc.stop()
        raise AssertionError(f"{name} did not come up:\n{proc.log()[-3000:]}") from None
    return gateway


def start_worker(
    env: dict[str, str], logs: Path, name: str = "worker", concurrency: int = 2
) -> Proc:
    proc = Proc(
        name,
        [
            *PYTHON,
            "worker",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}-{os.getpid()}@%h",
        ],
        env,
        logs / f"{name}.log",
    ).start()
    try:
        wait_until(lambda: " ready." in proc.log(), 60, f"{name} ready")
    except TimeoutError:
        proc.stop()
        raise AssertionError(f"{name} did not come up:\n{proc.log()[-3000:]}") from None
    return proc


@dataclass
class Client:
    """A real WebSocket client with JSON helpers; every wait has a timeout."""

    ws: ClientConnection
    received: list[dict[str, Any]] = field(default_factory=list)
    unclaimed: list[dict[str, Any]] = field(default_factory=list)

    def send(self, payload: Any) -> None:
        self.ws.send(payload if isinstance(payload, str | bytes) else json.dumps(payload))

    def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        self.received.append(message)
        return message

    def take(
        self,
        belongs: Callable[[dict[str, Any]], bool],
        until: Callable[[dict[str, Any]], bool],
        timeout: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Frames that ``belong``, up to and including the first that matches ``until``.

        Frames that do not belong are kept for later calls, so waiting for one job never
        loses another job's frames.
        """
        taken: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        found = False
        for frame in self.unclaimed:
            if found or not belongs(frame):
                kept.append(frame)
                continue
            taken.append(frame)
            found = until(frame)
        self.unclaimed = kept
        deadline = time.monotonic() + timeout
        while not found:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame within {timeout}s; got {taken}")
            frame = self.recv(timeout=remaining)
            if not belongs(frame):
                self.unclaimed.append(frame)
                continue
            taken.append(frame)
            found = until(frame)
        return taken

    def recv_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """The first frame that matches ``predicate`` (as a one-item list); others are kept."""
        return self.take(predicate, lambda f: True, timeout)

    def until_terminal(self, job_id: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """This job's frames up to its terminal event or terminal snapshot."""
        return self.take(
            lambda f: f.get("job_id") == job_id and f.get("event") != "error",
            lambda f: (
                f.get("event") in TERMINAL
                or (f.get("event") == "snapshot" and f.get("state") in TERMINAL)
            ),
            timeout,
        )

    def request(self, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send a request with a ref and return the first frame that answers it."""
        ref = payload.setdefault("ref", f"r{time.monotonic_ns()}")
        self.send(payload)
        return self.take(lambda f: f.get("ref") == ref, lambda f: True, timeout)[-1]

    def ping(self) -> None:
        answer = self.request({"op": "ping"})
        assert answer["event"] == "pong"

    def submit(self, job: str, params: dict[str, Any] | None = None) -> str:
        answer = self.request({"op": "submit", "job": job, "params": params or {}})
        assert answer["event"] == "accepted", answer
        return str(answer["job_id"])


@contextmanager
def client(url: str, **kwargs: Any) -> Iterator[Client]:
    with connect(url, open_timeout=10, close_timeout=5, **kwargs) as ws:
        yield Client(ws)


def assert_seq_increasing(frames: list[dict[str, Any]]) -> None:
    seqs = [f["seq"] for f in frames if "seq" in f]
    assert all(a < b for a, b in itertools.pairwise(seqs)), f"seq not increasing: {seqs}"


def record_measurement(name: str, value: float, unit: str) -> None:
    """Keep a measured figure (never asserted) in test-artifacts/measurements.txt."""
    path = Path(os.environ.get("TASKGATE_TEST_ARTIFACTS", "test-artifacts")) / "measurements.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {name}: {value:.3f} {unit}\n")


def http_json(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request with an optional JSON body; returns status, headers, decoded JSON."""
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
            head = {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
        head = {k.lower(): v for k, v in exc.headers.items()}
    return status, head, json.loads(raw) if raw else None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class EventStream:
    """A real SSE client over http.client: yields each event (its JSON plus ``id``)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 30.0):
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        self.conn.request("GET", f"{parts.path}?{parts.query}", headers=headers or {})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.ended = False

    def json(self) -> Any:
        return json.loads(self.response.read())

    def events(self) -> Iterator[dict[str, Any]]:
        """Events until the server ends the stream (a read times out after ``timeout``)."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline()
            if not line:
                self.ended = True
                return
            text = line.decode().rstrip("\r\n")
            if text.startswith(":"):
                continue
            if text:
                name, _, value = text.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "data" in fields:
                event: dict[str, Any] = json.loads(fields["data"])
                event["id"] = int(fields["id"])
                yield event
            fields = {}

    def close(self) -> None:
        self.conn.close()


@contextmanager
def override_config(**changes: Any) -> Iterator[None]:
    """This process's settings (``get_config()``) with ``changes``, for the block only."""
    import dataclasses

    from django.test import override_settings

    from taskgate.config import get_config

    changed = dataclasses.replace(get_config(), **changes)
    get_config.cache_clear()
    try:
        with override_settings(TASKGATE_CONFIG=changed):
            yield
    finally:
        get_config.cache_clear()
