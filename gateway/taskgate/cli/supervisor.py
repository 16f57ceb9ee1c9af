"""Keeping ``taskgate up``'s parts running: restarts with backoff, and a stop on a crash loop.

Each part runs as a child process in its own session (a terminal's Ctrl-C reaches only the
supervisor, which then stops the parts in order), with a parent-death signal so that no part
outlives a supervisor that was killed. A part that dies (a worker killed, a gateway that
crashed, the embedded Redis) is restarted after a backoff (1 s, doubling up to 30 s) and
logged; the others, and the sockets of the gateways still up, stay as they are. A part that
dies ``limit`` times within ``window`` seconds stops the whole stack, naming it. Jobs of a
dead worker end as ``lost`` through the gateways' sweep (delivery/lost.py); jobs it had
taken but not started go back to the queue after the broker's visibility timeout.

It waits with ``sigwaitinfo``/``sigtimedwait``: no polling while the stack runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field

from taskgate.cli.children import child_setup
from taskgate.cli.redis_server import EmbeddedRedis

logger = logging.getLogger("taskgate")

WAITED = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}
MAX_BACKOFF = 30.0


@dataclass
class Part:
    name: str
    argv: list[str]
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            self.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=child_setup,
        )
        logger.info("started %s (pid %d)", self.name, self.process.pid)

    def exited(self) -> int | None:
        """The exit status, once the process has ended (it is reaped here)."""
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0fs: killing it", self.name, self.stop_timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        logger.info("stopped %s", self.name)


@dataclass
class RedisPart:
    """The embedded Redis as a part: restarted on the same port and data directory."""

    server: EmbeddedRedis
    name: str = "embedded Redis"

    def start(self, env: dict[str, str]) -> None:
        self.server.start()

    def exited(self) -> int | None:
        process = self.server.process
        return None if process is None else process.poll()

    def stop(self) -> None:
        self.server.stop()
        logger.info("stopped embedded Redis")


@dataclass
class Stack:
    parts: list[Part] = field(default_factory=list)
    redis: EmbeddedRedis | None = None

    def all_parts(self) -> list[Part | RedisPart]:
        found: list[Part | RedisPart] = list(self.parts)
        if self.redis is not None:
            found.append(RedisPart(self.redis))
        return found

    def stop(self) -> None:
        # The gateway first (sockets close with 1001), the worker last but Redis.
        for part in self.all_parts():
            part.stop()

    def exited(self) -> Part | None:
        for part in self.parts:
            if part.exited() is not None:
                return part
        return None


@dataclass
class RestartPolicy:
    limit: int = 5  # crashes of one part within the window stop the stack
    window: float = 60.0
    crashes: dict[str, deque[float]] = field(default_factory=dict)

    def crashed(self, name: str, now: float) -> int:
        """Record a crash; returns how many this part had within the window."""
        times = self.crashes.setdefault(name, deque())
        times.append(now)
        while times and times[0] < now - self.window:
            times.popleft()
        return len(times)


def supervise(stack: Stack, env: dict[str, str], policy: RestartPolicy) -> int:
    """Until SIGINT/SIGTERM (0), or a part crashes ``policy.limit`` times in its window (1)."""
    parts = stack.all_parts()
    due: dict[str, float] = {}  # part name -> when to start it again
    while True:
        now = time.monotonic()
        if due:
            info = signal.sigtimedwait(WAITED, max(0.0, min(due.values()) - now))
        else:
            info = signal.sigwaitinfo(WAITED)
        if info is not None and info.si_signo in (signal.SIGINT, signal.SIGTERM):
            logger.info("stopping (signal %d)", info.si_signo)
            return 0
        now = time.monotonic()
        for part in parts:
            status = part.exited()
            if status is None or part.name in due:
                continue
            count = policy.crashed(part.name, now)
            if count >= policy.limit:
                logger.error(
                    "%s exited (status %s) %d times within %.0fs: stopping the stack",
                    part.name, status, count, policy.window,
                )  # fmt: skip
                return 1
            delay = min(MAX_BACKOFF, 2.0 ** (count - 1))
            logger.error(
                "%s exited unexpectedly (status %s): restarting it in %.0fs (%d of %d crashes "
                "allowed within %.0fs)",
                part.name, status, delay, count, policy.limit - 1, policy.window,
            )  # fmt: skip
            due[part.name] = now + delay
        for part in parts:
            if part.name in due and due[part.name] <= now:
                del due[part.name]
                try:
                    part.start(env)
                except Exception:
                    logger.exception("%s could not be restarted", part.name)
                    due[part.name] = now + MAX_BACKOFF
                else:
                    logger.info("%s restarted", part.name)
