"""Real workers, side by side: taskgate (before and after this work on its path) and the peers.

Every variant runs the same jobs (count, steps, pace) through real ``celery worker``
processes (prefork, one pool process per job) and real sockets: taskgate's
``bench.ticker`` job calling ``report_progress``, celery-progress 0.5's recorders in its
WebSocket and HTTP polling modes, and the article's ``update_state`` job watched by its
0.1 s loop. The delay is the time a watcher got a state minus the time the worker reported it.
For taskgate the run also traces each event through the stages (``TASKGATE_BENCH_STAGES_DIR``)
and counts the Redis commands per progress event (``INFO commandstats``, whole server).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from celery import Celery

from bench.clients import create_jobs
from bench.floor import measure_floor
from bench.peers import PEER_APPS, PeerVenvs
from bench.procs import PYTHON, BenchEnv, Child, command_calls, wait_http
from bench.scenarios import Target
from bench.split import delay_split
from bench.stats import percentile
from bench.watch import (
    Received,
    article_watch,
    cp_http_watch,
    cp_ws_watch,
    reported_times,
    stop_all,
    taskgate_watch,
)

logger = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parent.parent
Result = dict[str, Any]


@dataclass(frozen=True)
class Load:
    name: str
    jobs: int
    sockets: int
    steps: int
    interval: float

    @property
    def events(self) -> int:
        return self.jobs * self.steps


LOADS = {
    "light": Load("light", jobs=2, sockets=2, steps=50, interval=0.1),
    "heavy": Load("heavy", jobs=100, sockets=1000, steps=50, interval=0.1),
}
VARIANTS = (
    "taskgate, before",
    "taskgate",
    "taskgate, traced",
    "celery-progress ws",
    "celery-progress http",
    "article loop",
)
# The variant whose stage trace gives the delay split. Tracing writes a line per event and
# stage in the worker and the gateway (about 0.05 ms at p50 on the light load), so "taskgate"
# and "taskgate, before" are measured untraced and the split comes from this run of its own.
TRACED = "taskgate, traced"


def wait_ready(env: BenchEnv, child: Child, timeout: float = 180.0) -> None:
    """Until the Celery worker logs ``ready.`` (all its pool processes are up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited: {env.log(child.name)[-2000:]}")
        if " ready." in env.log(child.name):
            return
        time.sleep(0.3)  # start-up wait
    raise RuntimeError(f"{child.name} not ready in {timeout:.0f}s")


def _margin(load: Load) -> float:
    """Seconds from submitting to the first step: every watcher connects meanwhile."""
    return 4.0 + load.sockets * 0.008


async def _watch_all(
    watch: Callable[[str, Received], Awaitable[None]],
    job_ids: list[str],
    load: Load,
    out: Received,
    start_at: float,
    client: Any,
) -> Result:
    """Run one watcher per socket (socket i on job i % jobs) until every end arrived, and
    count the Redis commands from the first step to the last end."""
    out.expected_terminals = load.sockets
    tasks = [
        asyncio.ensure_future(watch(job_ids[i % len(job_ids)], out)) for i in range(load.sockets)
    ]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    calls0 = command_calls(client)
    try:
        await asyncio.wait_for(out.done.wait(), load.steps * load.interval + 30)
    except TimeoutError:
        logger.warning("  not every watcher saw its job end (%d)", out.terminals)
    calls1 = command_calls(client)
    await stop_all(tasks, out)
    counted = {
        name: calls1[name] - calls0.get(name, 0)
        for name in calls1
        if name != "info" and calls1[name] != calls0.get(name, 0)
    }
    top = sorted(counted.items(), key=lambda kv: -kv[1])[:6]
    total = sum(counted.values())
    return {
        "redis_per_event": total / load.events,
        "redis_top": ", ".join(f"{n} {c / load.events:.2f}" for n, c in top),
    }


def _summary(
    out: Received, load: Load, push: bool, reported: dict[str, list[float]] | None = None
) -> Result:
    """The delay of every state (a push), or how far behind each poller was at every step."""
    delays = out.delays() if reported is None else out.staleness(reported)
    keys = {(job, key) for job, key, _, _ in out.samples}
    return {
        "p50_ms": percentile(delays, 50) * 1e3,
        "p90_ms": percentile(delays, 90) * 1e3,
        "p99_ms": percentile(delays, 99) * 1e3,
        "max_ms": (delays[-1] if delays else float("nan")) * 1e3,
        "received": len(delays),
        "expected": load.sockets * load.steps if push else None,
        "states_seen_pct": 100 * len(keys) / load.events,
        "lost_ends": load.sockets - out.terminals,
    }


async def run_taskgate(env: BenchEnv, load: Load, direct: bool, traced: bool) -> Result:
    """taskgate's path (``direct``: as it is now, else as before this work), traced through
    its stages or not."""
    trace_dir = env.root / f"trace-{load.name}-{'direct' if direct else 'thread'}"
    if traced:
        trace_dir.mkdir()
    saved = dict(env.env)
    env.env.update(
        TASKGATE_JOB_MODULES="taskgate.examples,bench.jobs.ticker",
        PYTHONPATH=str(ROOT),
        TASKGATE_BENCH_STAGES_DIR=str(trace_dir) if traced else "",
        TASKGATE_DIRECT_PUSH="1" if direct else "0",
        TASKGATE_OWN_SUBSCRIBER="1" if direct else "0",
        TASKGATE_MAX_CONNECTIONS_PER_ADDRESS="1000000",
    )
    try:
        return await _run_taskgate(env, load, trace_dir if traced else None)
    finally:
        env.env.clear()
        env.env.update(saved)


async def _run_taskgate(env: BenchEnv, load: Load, trace_dir: Path | None) -> Result:
    loop = asyncio.get_running_loop()
    argv = [PYTHON, "-m", "taskgate", "worker", "--concurrency", str(load.jobs)]
    worker = env.spawn("worker", [*argv, "--loglevel", "INFO"])
    try:
        await loop.run_in_executor(None, wait_ready, env, worker)
        async with Target(env, 1) as target:
            assert target.cookie is not None
            start_at = time.time() + _margin(load)
            params = {"steps": load.steps, "interval": load.interval, "start_at": start_at}
            job_ids = await create_jobs(
                target.urls,
                target.cookie,
                load.jobs,
                job="bench.ticker",
                params_of=lambda slot: {**params, "slot": slot, "slots": load.jobs},
            )
            out = Received()
            url, cookie = target.urls[0], target.cookie
            client = env.client()
            counts = await _watch_all(
                lambda job_id, rec: taskgate_watch(url, cookie, job_id, rec),
                job_ids,
                load,
                out,
                start_at,
                client,
            )
            client.close()
    finally:
        env.stop(worker)
    split = delay_split(trace_dir, out) if trace_dir is not None else {}
    return {**_summary(out, load, push=True), **counts, **split}


async def run_peer(env: BenchEnv, venvs: PeerVenvs, variant: str, load: Load) -> Result:
    assert env.redis is not None
    url = env.redis.url.rsplit("/", 1)[0] + "/5"
    extra = {
        "PEER_REDIS_URL": url,
        "PYTHONPATH": str(PEER_APPS),
        "DJANGO_SETTINGS_MODULE": "cp_project.settings",
    }
    loop = asyncio.get_running_loop()
    if variant == "article loop":
        python = await loop.run_in_executor(None, venvs.get, "article")
        app_name, task = "article_app", "peer.article"
    else:
        python = await loop.run_in_executor(None, venvs.get, "celery-progress")
        app_name = "cp_project.celery_app"
        task = "peer.cp_ws" if variant.endswith("ws") else "peer.cp_http"
    celery_argv = [str(python), "-m", "celery", "-A", app_name, "worker", "-P", "prefork"]
    worker = env.spawn(
        "peer-worker",
        [*celery_argv, "--concurrency", str(load.jobs), "--loglevel", "INFO"],
        extra=extra,
        cwd=PEER_APPS,
    )
    server: Child | None = None
    try:
        if variant != "article loop":
            port = _free_port()
            uv = [str(python), "-m", "uvicorn", "cp_project.asgi:application", "--port", str(port)]
            server = env.spawn(
                "peer-server", [*uv, "--log-level", "warning"], extra=extra, cwd=PEER_APPS
            )
            await loop.run_in_executor(
                None, wait_http, f"http://127.0.0.1:{port}/celery_progress/none/", server
            )
        await loop.run_in_executor(None, wait_ready, env, worker)
        job_ids = [uuid.uuid4().hex for _ in range(load.jobs)]
        start_at = time.time() + _margin(load)
        out = Received()
        peer_redis = aioredis.Redis.from_url(url, max_connections=100_000)
        watch: Callable[[str, Received], Awaitable[None]]
        if variant == "article loop":
            watch = lambda job_id, rec: article_watch(peer_redis, job_id, rec)  # noqa: E731
        elif variant.endswith("ws"):
            watch = lambda job_id, rec: cp_ws_watch(f"ws://127.0.0.1:{port}", job_id, rec)  # noqa: E731
        else:
            watch = lambda job_id, rec: cp_http_watch(f"http://127.0.0.1:{port}", job_id, rec)  # noqa: E731
        app = Celery("bench", broker=url, backend=url)
        kwargs = {"steps": load.steps, "interval": load.interval, "start_at": start_at}

        def submit() -> None:
            for slot, job_id in enumerate(job_ids):
                slotted = {**kwargs, "slot": slot, "slots": load.jobs}
                app.send_task(task, kwargs=slotted, task_id=job_id)

        watching = asyncio.ensure_future(
            _watch_all(watch, job_ids, load, out, start_at, env.client())
        )
        await asyncio.sleep(min(2.0, _margin(load) / 2))  # the sockets open first
        await loop.run_in_executor(None, submit)
        counts = await watching
        reported = await reported_times(url, job_ids)
        await peer_redis.aclose()
    finally:
        env.stop(worker)
        if server is not None:
            env.stop(server)
    push = variant.endswith("ws")
    return {**_summary(out, load, push, None if push else reported), **counts}


def _free_port() -> int:
    from taskgate.cli.redis_server import free_port

    return free_port()


SETTLE_SECONDS = 3.0


async def run_floor(env: BenchEnv) -> Result:
    """This machine's floor for the light load's pace (:mod:`bench.floor`)."""
    await _settle()
    logger.info("this machine's floor: processes that only pass a timestamp on")
    light = LOADS["light"]
    result = await measure_floor(env, light.events, light.interval)
    logger.info("  %s", result)
    return result


async def _settle() -> None:
    """Start each variant on a machine the one before has left: this process's garbage from
    it collected now (not during the next one's measurement), and a few seconds for the
    exits of its 100 pool processes and their sockets to be done with."""
    gc.collect()
    await asyncio.sleep(SETTLE_SECONDS)


async def run_real(env: BenchEnv, venvs: PeerVenvs, loads: list[str], variants: list[str]) -> Any:
    """``{load: {variant: result}}`` for the real-worker table."""
    results: dict[str, dict[str, Result]] = {}
    for name in loads:
        load = LOADS[name]
        for variant in variants:
            await _settle()
            logger.info("real workers, %s load: %s", name, variant)
            try:
                if variant.startswith("taskgate"):
                    direct = variant != "taskgate, before"
                    result = await run_taskgate(env, load, direct, traced=variant == TRACED)
                else:
                    result = await run_peer(env, venvs, variant, load)
            except Exception as exc:  # one variant failing must not lose the others
                logger.exception("  %s failed", variant)
                result = {"error": repr(exc)[:200]}
            logger.info("  %s", result)
            results.setdefault(name, {})[variant] = result
    return results
