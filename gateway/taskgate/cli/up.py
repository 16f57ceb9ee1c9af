"""``taskgate up``: the whole stack in one command, and a clean stop on Ctrl-C or SIGTERM.

This module assembles the stack (embedded Redis, migrations, gateways, Flower, workers) and
waits until it serves; :mod:`taskgate.cli.supervisor` then keeps it running.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

from taskgate.cli import stack_file
from taskgate.cli.redis_server import EmbeddedRedis
from taskgate.cli.supervisor import WAITED, Part, RestartPolicy, Stack, supervise

logger = logging.getLogger("taskgate")

EXAMPLES = "taskgate.examples"


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


def _wait_workers(env: dict[str, str], count: int, stack: Stack, timeout: float) -> None:
    """Until ``count`` workers answer a control ping: "ready" means a submitted job runs."""
    from celery import Celery

    from taskgate.config import Config
    from taskgate.config.redis_target import RedisTarget

    # The workers' broker, as they see it (REDIS_URL, or the master the sentinels name).
    config = Config.from_environ(env)
    broker = RedisTarget.from_setting(
        config.broker_url, config.redis_sentinels, config.redis_master
    )
    probe = Celery("taskgate-up", broker=broker.celery_url(), set_as_current=False)
    probe.conf.broker_transport_options = broker.transport_options(config.redis_connect_timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            dead = stack.exited()
            if dead is not None:
                raise RuntimeError(f"{dead.name} exited during start-up")
            # A worker that is still starting misses the broadcast: ask again.
            if len(probe.control.ping(timeout=1.0) or []) >= count:
                return
        raise RuntimeError(f"not all {count} worker(s) answered within {timeout:.0f}s")
    finally:
        probe.close()


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


def _code_env(args: argparse.Namespace, env: dict[str, str]) -> dict[str, str]:
    """The team's Celery app and job modules, and the shipped examples unless --no-examples."""
    out: dict[str, str] = {}
    if args.app:
        out["TASKGATE_CELERY_APP"] = args.app
    modules = [m.strip() for m in (args.jobs or env.get("TASKGATE_JOB_MODULES", "")).split(",")]
    modules = [m for m in modules if m]
    if not args.no_examples and EXAMPLES not in modules:
        modules.append(EXAMPLES)
    out["TASKGATE_JOB_MODULES"] = ",".join(modules)
    return out


def run_stack(args: argparse.Namespace) -> int:
    signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("TASKGATE_DATA_DIR", str(data_dir))
    env.setdefault("TASKGATE_ALLOW_ANONYMOUS", "1")
    env.setdefault("TASKGATE_SECRET_KEY", _secret_key(data_dir))
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(_code_env(args, env))
    stack = Stack()
    try:
        if not env.get("REDIS_URL"):
            stack.redis = EmbeddedRedis(data_dir / "redis").start()
            env["REDIS_URL"] = stack.redis.url
            logger.info("no REDIS_URL: embedded Redis at %s", stack.redis.url)
        if not args.no_flower:
            env.setdefault("TASKGATE_FLOWER_URL", f"http://{args.host}:{args.flower_port}/")
        python = [sys.executable, "-m", "taskgate"]
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
        _wait_workers(env, args.workers, stack, args.ready_timeout)
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
        stack_file.write(
            data_dir,
            redis_url=env["REDIS_URL"],
            http_url=f"{base}/",
            ws_url=f"{ws}://{args.host}:{args.port}",
        )
        logger.info("press Ctrl-C to stop")
        policy = RestartPolicy(limit=args.restart_limit, window=args.restart_window)
        return supervise(stack, env, policy)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        logger.error("taskgate up failed: %s", exc)
        return 1
    finally:
        stack_file.remove(data_dir)
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
