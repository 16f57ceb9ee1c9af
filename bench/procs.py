"""The processes a benchmark run starts: a private Redis, gateways, the baseline, emitters."""

from __future__ import annotations

import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis as redis_py

from taskgate.cli.redis_server import EmbeddedRedis, free_port

PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def raise_nofile(wanted: int) -> int:
    """Raise the soft open-files limit towards ``wanted`` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted))
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    port: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kib(self) -> int:
        fields = Path(f"/proc/{self.pid}/statm").read_text().split()
        return int(fields[1]) * PAGE_KIB

    def cpu_seconds(self) -> float:
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class BenchEnv:
    """A private Redis and data dir, and the environment every child runs with."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="taskgate-bench-")))
    redis: EmbeddedRedis | None = None
    env: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)

    def start(self) -> BenchEnv:
        self.redis = EmbeddedRedis(self.root / "redis", persistent=False).start()
        self.env = dict(os.environ)
        for name in ("TASKGATE_CHANNEL_URL", "TASKGATE_BROKER_URL", "TASKGATE_RESULT_URL"):
            self.env.pop(name, None)
        self.env.update(
            REDIS_URL=self.redis.url,
            DJANGO_SETTINGS_MODULE="taskgate.serve.settings",
            TASKGATE_DATA_DIR=str(self.root / "data"),
            TASKGATE_SECRET_KEY=secrets.token_urlsafe(50),
            TASKGATE_ALLOW_ANONYMOUS="1",
            TASKGATE_LOG_LEVEL="WARNING",
            TASKGATE_JOB_MODULES="taskgate.examples",
            TASKGATE_SUBMIT_RATE="100000",
            TASKGATE_SUBMIT_BURST="100000",
            TASKGATE_PRINCIPAL_SUBMIT_RATE="100000",
            TASKGATE_PRINCIPAL_SUBMIT_BURST="100000",
            TASKGATE_MAX_WATCHES_PER_SOCKET="100000",
            TASKGATE_ANONYMOUS_SUBMIT_RATE="100000",
            TASKGATE_ANONYMOUS_SUBMIT_BURST="100000",
            TASKGATE_ANONYMOUS_SESSION_RATE="100000",
            TASKGATE_ANONYMOUS_SESSION_BURST="100000",
            TASKGATE_MAX_STREAMS_PER_ADDRESS="1000000",
            TASKGATE_MAX_STREAMS_PER_PRINCIPAL="1000000",
            PYTHONUNBUFFERED="1",
        )
        subprocess.run(
            [PYTHON, "-m", "taskgate", "manage", "migrate", "--noinput", "-v", "0"],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return self

    def client(self) -> redis_py.Redis:
        assert self.redis is not None
        return redis_py.Redis.from_url(self.redis.url)

    def spawn(
        self,
        name: str,
        argv: list[str],
        port: int = 0,
        *,
        extra: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Start one service (or load generator) in a session of its own, as ``taskgate up``
        starts each service: with the kernel's autogroup scheduling each session gets a fair
        share of the CPU, as each service does in its own cgroup under systemd or compose.
        In the bench's session, a worker's 100 pool processes got 100 shares to the
        gateway's one, and the gateway stood still while they ended their jobs."""
        log = (self.root / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            env={**self.env, **(extra or {})},
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        child = Child(name, process, port)
        self.children.append(child)
        return child

    def gateway(self, name: str) -> Child:
        port = free_port()
        child = self.spawn(name, [PYTHON, "-m", "taskgate", "gateway", "--port", str(port)], port)
        wait_http(f"http://127.0.0.1:{port}/readyz", child)
        return child

    def baseline(self) -> Child:
        port = free_port()
        child = self.spawn("baseline", [PYTHON, "-m", "bench.baseline", "--port", str(port)], port)
        wait_http(f"http://127.0.0.1:{port}/", child)
        return child

    def emitters(self, count: int, job_ids: list[str], args: list[str]) -> list[Child]:
        """``count`` emitter processes, each reporting for its share of ``job_ids``."""
        out = []
        for index in range(count):
            share = job_ids[index::count]
            path = self.root / f"jobs-{index}.txt"
            path.write_text("\n".join(share))
            summary = self.root / f"emitted-{index}.json"
            summary.unlink(missing_ok=True)
            argv = [PYTHON, "-m", "bench.emitter", "--jobs-file", str(path), *args]
            out.append(self.spawn(f"emitter-{index}", [*argv, "--out", str(summary)]))
        return out

    def stop(self, child: Child) -> None:
        child.stop()
        if child in self.children:
            self.children.remove(child)

    def close(self) -> None:
        for child in self.children:
            child.stop()
        self.children.clear()
        if self.redis is not None:
            self.redis.stop()

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_http(url: str, child: Child, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)  # start-up wait
    raise RuntimeError(f"{child.name} not ready at {url}")


def wait_emitters(children: list[Child], timeout: float) -> list[dict[str, Any]]:
    """Wait for the emitters to exit; each writes one JSON summary line at the end."""
    out = []
    for child in children:
        child.process.wait(timeout)
        if child.process.returncode != 0:
            raise RuntimeError(f"{child.name} failed with {child.process.returncode}")
        args = list(child.process.args)  # type: ignore[arg-type]
        out.append(json.loads(Path(str(args[-1])).read_text()))
    return out


def command_calls(client: redis_py.Redis) -> dict[str, int]:
    """``INFO commandstats``: calls per command since the Redis started."""
    stats: dict[str, Any] = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if isinstance(value, dict)
    }
