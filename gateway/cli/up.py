"""``taskgate up``: the whole stack in one command, and a clean stop on Ctrl-C or SIGTERM.

The supervisor starts each part as a child process in its own session (a terminal's Ctrl-C
reaches only the supervisor, which then stops the parts in order), with a parent-death signal
so that no part outlives a supervisor that was killed. It waits for signals with
``sigwaitinfo``: no polling while the stack runs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from gateway.cli.children import child_setup
from gateway.cli.redis_server import EmbeddedRedis

logger = logging.getLogger("taskgate")

_WAITED = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}


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

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0fs: killing it", self.name, self.stop_timeout)
            _kill_group(process)
            process.wait()
        logger.info("stopped %s", self.name)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Stack:
    parts: list[Part] = field(default_factory=list)
    redis: EmbeddedRedis | None = None

    def stop(self) -> None:
        # The gateway first (sockets close with 1001), the worker last but Redis.
        for part in self.parts:
            part.stop()
        if self.redis is not None:
            self.redis.stop()
            logger.info("stopped embedded Redis")

    def exited(self) -> Part | None:
        for part in self.parts:
            if part.process is not None and part.process.poll() is not None:
                return part
        return None


def _secret_key(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _probe_context(url: str) -> ssl.SSLContext | None:
    """For https: our own child on our own address; its certificate names the public host,
    not this address, so the readiness probe does not verify it (clients do)."""
    if not url.startswith("https:"):
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _wait_ready(url: str, stack: Stack, timeout: float) -> bytes:
    """The body of the first 200 answer from ``url`` (start-up only)."""
    deadline = time.monotonic() + timeout
    last: object = None
    context = _probe_context(url)
    while time.monotonic() < deadline:
        dead = stack.exited()
        if dead is not None:
            raise RuntimeError(f"{dead.name} exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as response:  # noqa: S310
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")
        except OSError as exc:
            last = exc
        time.sleep(0.25)  # start-up only: the stack is not serving yet
    raise RuntimeError(f"not ready after {timeout:.0f}s: {last}")


def _tls_options(args: argparse.Namespace) -> list[str]:
    """The gateway's --certfile/--keyfile, checked here so a typo fails before anything starts."""
    certfile, keyfile = getattr(args, "certfile", None), getattr(args, "keyfile", None)
    if not certfile and not keyfile:
        return []
    if not certfile:
        raise RuntimeError("--keyfile needs --certfile")
    options = ["--certfile", str(Path(certfile).resolve())]
    if keyfile:
        options += ["--keyfile", str(Path(keyfile).resolve())]
    for path in options[1::2]:
        if not Path(path).is_file():
            raise RuntimeError(f"no such file: {path}")
    return options


def run_stack(args: argparse.Namespace) -> int:
    signal.pthread_sigmask(signal.SIG_BLOCK, _WAITED)
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("TASKGATE_DATA_DIR", str(data_dir))
    env.setdefault("TASKGATE_ALLOW_ANONYMOUS", "1")
    env.setdefault("TASKGATE_SECRET_KEY", _secret_key(data_dir))
    env.setdefault("PYTHONUNBUFFERED", "1")
    stack = Stack()
    try:
        if not env.get("REDIS_URL"):
            stack.redis = EmbeddedRedis(data_dir / "redis").start()
            env["REDIS_URL"] = stack.redis.url
            logger.info("no REDIS_URL: embedded Redis at %s", stack.redis.url)
        if not args.no_flower:
            env.setdefault("TASKGATE_FLOWER_URL", f"http://{args.host}:{args.flower_port}/")
        python = [sys.executable, "-m", "gateway"]
        subprocess.run([*python, "manage", "migrate", "--noinput", "-v", "0"], env=env, check=True)
        tls = _tls_options(args)
        stack.parts.extend(_gateway_parts(args, python, tls))
        if not args.no_flower:
            stack.parts.append(
                Part(
                    "flower",
                    [*python, "flower", "--host", args.host, "--port", str(args.flower_port)],
                )
            )
        stack.parts.extend(
            Part(
                "worker" if args.workers == 1 else f"worker-{index}",
                [
                    *python,
                    "worker",
                    "--concurrency",
                    str(args.concurrency),
                    *([] if args.workers == 1 else ["--hostname", f"worker{index}@%h"]),
                ],
                stop_timeout=args.stop_timeout,
            )
            for index in range(1, args.workers + 1)
        )
        for part in stack.parts:
            part.start(env)
        http, ws = ("https", "wss") if tls else ("http", "ws")
        base = f"{http}://{args.host}:{args.port}"
        _wait_ready(f"{base}/readyz", stack, args.ready_timeout)
        # Each of several gateways answers alone on its own port: wait for every one.
        for index in range(1, args.gateways + 1 if args.gateways > 1 else 1):
            own = f"{http}://{args.host}:{args.port + index}/readyz"
            _wait_ready(own, stack, args.ready_timeout)
        if not args.no_flower:
            flower = f"http://{args.host}:{args.flower_port}/healthcheck"
            _wait_ready(flower, stack, args.ready_timeout)
        logger.info("taskgate is ready")
        logger.info("  page        %s/", base)
        logger.info(
            "  websocket   %s://%s:%d/ws/jobs/  (classic: /async_task/)", ws, args.host, args.port
        )
        if args.gateways > 1:
            logger.info(
                "  %d gateway processes share port %d; each alone on ports %d-%d (/metrics)",
                args.gateways,
                args.port,
                args.port + 1,
                args.port + args.gateways,
            )
        if not args.no_flower:
            logger.info("  flower      http://%s:%d/", args.host, args.flower_port)
        logger.info("  redis       %s", env["REDIS_URL"])
        logger.info("press Ctrl-C to stop")
        return _wait_for_stop(stack)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        logger.error("taskgate up failed: %s", exc)
        return 1
    finally:
        stack.stop()


def _gateway_parts(args: argparse.Namespace, python: list[str], tls: list[str]) -> list[Part]:
    """One gateway, or ``--gateways N`` sharing ``--port`` (SO_REUSEPORT: the kernel spreads
    new connections), each also alone on ``port + i`` so it can be scraped by itself."""
    base = [*python, "gateway", "--host", args.host, "--port", str(args.port), *tls]
    if args.gateways == 1:
        return [Part("gateway", base)]
    return [
        Part(f"gateway-{index}", [*base, "--reuse-port", "--own-port", str(args.port + index)])
        for index in range(1, args.gateways + 1)
    ]


def _wait_for_stop(stack: Stack) -> int:
    while True:
        info = signal.sigwaitinfo(_WAITED)
        if info.si_signo in (signal.SIGINT, signal.SIGTERM):
            logger.info("stopping (signal %d)", info.si_signo)
            return 0
        dead = stack.exited()
        if dead is not None and dead.process is not None:
            logger.error(
                "%s exited unexpectedly (status %s): stopping", dead.name, dead.process.returncode
            )
            return 1
