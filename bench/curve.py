"""Latency against offered load: progress events/s into one gateway process, step by step.

taskgate: the synthetic emitters (``bench.emitter``, the worker's push path) into one
gateway, ``sockets`` watchers of as many jobs. Each peer: its own progress path in its
venv (``bench/peer_apps/peer_emitter.py``) and its own watchers, at the same steps, until
it cannot offer a step (its emitter falls below 80 % of the rate) or its delay passes 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from bench.peers import PEER_APPS, PeerVenvs
from bench.procs import BenchEnv, Child, wait_http
from bench.realworker import _free_port
from bench.scenarios import Target, latency
from bench.stats import percentile
from bench.watch import (
    Received,
    article_watch,
    cp_http_watch,
    cp_ws_watch,
    reported_times,
    stop_all,
)

logger = logging.getLogger("bench")

Result = dict[str, Any]
PEER_MODES = {
    "celery-progress ws": "cp_ws",
    "celery-progress http": "cp_http",
    "article loop": "article",
}
GIVE_UP_SECONDS = 5.0
EMITTERS = 2


async def taskgate_curve(
    env: BenchEnv, rates: list[float], sockets: int, duration: float, emitters: int
) -> list[Result]:
    out = []
    for rate in rates:
        logger.info("curve: taskgate at %.0f events/s", rate)
        async with Target(env, 1) as target:
            got = await latency(target, sockets, sockets, rate, duration, emitters)
        out.append({"rate": rate, **got})
        logger.info("  p50 %.2f ms, p99 %.2f ms", got["p50_ms"], got["p99_ms"])
    return out


async def _peer_step(
    env: BenchEnv,
    python: str,
    mode: str,
    url: str,
    watch: Callable[[str, Received], Awaitable[None]],
    rate: float,
    sockets: int,
    duration: float,
) -> Result:
    job_ids = [uuid.uuid4().hex for _ in range(sockets)]
    received = Received(expected_terminals=10**9)
    watchers = [asyncio.ensure_future(watch(job_id, received)) for job_id in job_ids]
    start_at = time.time() + 2.0 + sockets * 0.005
    extra = {"PEER_REDIS_URL": url, "PYTHONPATH": str(PEER_APPS)}
    extra["DJANGO_SETTINGS_MODULE"] = "cp_project.settings"
    emitters = []
    for index in range(EMITTERS):  # as many processes as taskgate's emitters
        jobs_file = env.root / f"peer-jobs-{index}.txt"
        jobs_file.write_text("\n".join(job_ids[index::EMITTERS]))
        out_file = env.root / f"peer-emitted-{index}.json"
        out_file.unlink(missing_ok=True)
        argv = [python, str(PEER_APPS / "peer_emitter.py"), "--mode", mode, "--jobs-file"]
        argv += [str(jobs_file), "--rate", str(rate / EMITTERS), "--duration", str(duration)]
        argv += ["--start-at", str(start_at), "--out", str(out_file)]
        emitter = env.spawn(f"peer-emitter-{index}", argv, extra=extra, cwd=PEER_APPS)
        emitters.append((emitter, out_file))
    loop = asyncio.get_running_loop()
    events, seconds = 0, 0.0
    for emitter, out_file in emitters:
        await loop.run_in_executor(None, emitter.process.wait, duration * 4 + 120)
        env.children.remove(emitter)
        if out_file.exists():
            emitted = json.loads(out_file.read_text())
            events, seconds = events + emitted["events"], max(seconds, emitted["seconds"])
    await asyncio.sleep(1.0 if mode == "cp_ws" else 1.0 + (0.5 if mode == "cp_http" else 0.1))
    await stop_all(watchers, received)
    offered = events / max(seconds, 1e-9)
    reported = await reported_times(url, job_ids)
    delays = received.delays() if mode == "cp_ws" else received.staleness(reported)
    return {
        "rate": rate,
        "offered_per_s": offered,
        "p50_ms": percentile(delays, 50) * 1e3,
        "p99_ms": percentile(delays, 99) * 1e3,
        "events": len(delays),
    }


async def peer_curve(
    env: BenchEnv, venvs: PeerVenvs, variant: str, rates: list[float], sockets: int, duration: float
) -> list[Result]:
    assert env.redis is not None
    mode = PEER_MODES[variant]
    url = env.redis.url.rsplit("/", 1)[0] + "/6"
    loop = asyncio.get_running_loop()
    python = str(
        await loop.run_in_executor(
            None, venvs.get, "article" if mode == "article" else "celery-progress"
        )
    )
    extra = {"PEER_REDIS_URL": url, "PYTHONPATH": str(PEER_APPS)}
    extra["DJANGO_SETTINGS_MODULE"] = "cp_project.settings"
    server: Child | None = None
    watch: Callable[[str, Received], Awaitable[None]]
    if mode == "article":
        peer_redis = aioredis.Redis.from_url(url, max_connections=100_000)
        watch = lambda job_id, rec: article_watch(peer_redis, job_id, rec)  # noqa: E731
    else:
        port = _free_port()
        uv = [python, "-m", "uvicorn", "cp_project.asgi:application", "--port", str(port)]
        server = env.spawn(
            "peer-server", [*uv, "--log-level", "warning"], extra=extra, cwd=PEER_APPS
        )
        await loop.run_in_executor(
            None, wait_http, f"http://127.0.0.1:{port}/celery_progress/none/", server
        )
        base = f"127.0.0.1:{port}"
        if mode == "cp_ws":
            watch = lambda job_id, rec: cp_ws_watch(f"ws://{base}", job_id, rec)  # noqa: E731
        else:
            watch = lambda job_id, rec: cp_http_watch(f"http://{base}", job_id, rec)  # noqa: E731
    out: list[Result] = []
    try:
        for rate in rates:
            logger.info("curve: %s at %.0f events/s", variant, rate)
            step = await _peer_step(env, python, mode, url, watch, rate, sockets, duration)
            logger.info("  %s", step)
            out.append(step)
            if step["offered_per_s"] < 0.8 * rate:
                # Its own path cannot send faster: the point is kept at the rate it reached.
                logger.info("  %s cannot offer %.0f events/s: its curve ends", variant, rate)
                break
            if not step["p50_ms"] < GIVE_UP_SECONDS * 1e3:
                break
    finally:
        if server is not None:
            env.stop(server)
        if mode == "article":
            with contextlib.suppress(Exception):
                await peer_redis.aclose()
    return out
