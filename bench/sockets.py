"""Many sockets on this host: N gateway processes, load-generator processes from their own
loopback source addresses (127.0.0.x: past the ephemeral-port limit of one address).

At each level (e.g. 10,000, 30,000, 100,000 sockets, every socket watching one of
``jobs`` queued jobs) it measures, while nothing happens: the gateways' RSS per socket,
their CPU, and the Redis commands per second per gateway process. Then one progress event
to each job (and its end), fanned out to every socket: how many arrived, p50/p99 delay.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from bench.procs import PYTHON, BenchEnv, Child, command_calls, wait_emitters
from bench.scenarios import SETTLE, Target
from bench.stats import percentile

logger = logging.getLogger("bench")

Result = dict[str, Any]


@dataclass
class Loadgen:
    child: Child
    out: str
    opened: int = 0
    failed: int = 0


def _spawn_loadgen(
    env: BenchEnv, index: int, target: Target, jobs_file: str, count: int, offset: int
) -> Loadgen:
    out = str(env.root / f"loadgen-{index}.json")
    argv = [PYTHON, "-m", "bench.socket_loadgen", "--urls", ",".join(target.urls)]
    argv += ["--jobs-file", jobs_file, "--count", str(count), "--offset", str(offset)]
    argv += ["--source", f"127.0.0.{2 + index}", "--cookie", str(target.cookie), "--out", out]
    log = (env.root / f"loadgen-{index}.log").open("ab")
    process = subprocess.Popen(
        argv, env=env.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
    )
    log.close()
    child = Child(f"loadgen-{index}", process)
    env.children.append(child)
    return Loadgen(child, out)


def _wait_open(gen: Loadgen, timeout: float) -> None:
    assert gen.child.process.stdout is not None
    line = gen.child.process.stdout.readline().decode().split()  # "open N failed M"
    if len(line) != 4:
        raise RuntimeError(f"{gen.child.name} ended before its sockets were open")
    gen.opened, gen.failed = int(line[1]), int(line[3])


def _dump(gen: Loadgen) -> dict[str, Any]:
    assert gen.child.process.stdin is not None
    gen.child.process.stdin.write(b"dump\n")
    gen.child.process.stdin.flush()
    gen.child.process.wait(120)
    with open(gen.out) as f:
        data: dict[str, Any] = json.load(f)
    return data


async def _idle_window(env: BenchEnv, target: Target, seconds: float) -> Result:
    client = env.client()
    calls0, cpu0, t0 = command_calls(client), target.cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    calls1, cpu1, t1 = command_calls(client), target.cpu(), time.monotonic()
    client.close()
    counted = {n: calls1[n] - calls0.get(n, 0) for n in calls1 if n != "info"}
    total = sum(counted.values())
    top = sorted((kv for kv in counted.items() if kv[1]), key=lambda kv: -kv[1])[:3]
    return {
        "redis_per_s_per_process": total / (t1 - t0) / len(target.children),
        "redis_top": ", ".join(f"{n} {c / (t1 - t0):.2f}/s" for n, c in top),
        "cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
    }


async def many_sockets(
    env: BenchEnv,
    levels: list[int],
    gateways: int,
    per_loadgen: int,
    jobs: int,
    idle_seconds: float,
) -> Result:
    saved = dict(env.env)
    env.env["TASKGATE_MAX_CONNECTIONS_PER_ADDRESS"] = "1000000"
    try:
        return await _many(env, levels, gateways, per_loadgen, jobs, idle_seconds)
    finally:
        env.env.clear()
        env.env.update(saved)


async def _many(
    env: BenchEnv, levels: list[int], gateways: int, per_loadgen: int, jobs: int, idle: float
) -> Result:
    loop = asyncio.get_running_loop()
    out: Result = {"gateways": gateways, "levels": []}
    async with Target(env, gateways) as target:
        job_ids = await target.jobs(jobs)
        jobs_file = env.root / "many-jobs.txt"
        jobs_file.write_text("\n".join(job_ids))
        await asyncio.sleep(SETTLE["seconds"])
        rss0 = target.rss_kib()
        out["idle_at_0"] = await _idle_window(env, target, idle)
        gens: list[Loadgen] = []
        asked = 0
        for level in levels:
            began = time.monotonic()
            fresh = []
            while asked < level:
                count = min(per_loadgen, level - asked)
                fresh.append(_spawn_loadgen(env, len(gens), target, str(jobs_file), count, asked))
                gens.append(fresh[-1])
                asked += count
            for gen in fresh:
                await loop.run_in_executor(None, _wait_open, gen, 900.0)
            opened = sum(g.opened for g in gens)
            connect_s = time.monotonic() - began
            await asyncio.sleep(SETTLE["seconds"])
            window = await _idle_window(env, target, idle)
            rss = target.rss_kib()
            row = {
                "asked": level,
                "open": opened,
                "failed": sum(g.failed for g in gens),
                "connect_s": connect_s,
                "rss_mib": rss / 1024,
                "rss_per_socket_kib": (rss - rss0) / max(1, opened),
                **window,
                "cpu_pct_per_10k": window["cpu_pct"] / max(1, opened) * 10_000,
            }
            logger.info("  %s", row)
            out["levels"].append(row)
        # One progress event to every job (and its end), to every socket watching it.
        summary = env.root / "many-emitted.json"
        argv = [PYTHON, "-m", "bench.emitter", "--jobs-file", str(jobs_file), "--rate", "0"]
        # The jobs' running events (sent while the emitter sets up) drain before the progress.
        argv += ["--start-at", str(time.time() + 15.0), "--burst", "2"]
        emitter = env.spawn("many-emitter", [*argv, "--out", str(summary)])
        await loop.run_in_executor(None, wait_emitters, [emitter], 300.0)
        env.children.remove(emitter)
        await asyncio.sleep(15.0)  # the fan-out drains (the ends are what was sent last)
        dumps = [await loop.run_in_executor(None, _dump, gen) for gen in gens]
        for gen in gens:
            env.children.remove(gen.child)
        delays = sorted(d for dump in dumps for d in dump["delays"])
        opened = sum(dump["open"] for dump in dumps)
        out["fanout"] = {
            "sockets": opened,
            "progress_delivered": sum(dump["progress"] for dump in dumps),
            "ends_delivered": sum(dump["ends"] for dump in dumps),
            "p50_ms": percentile(delays, 50) * 1e3,
            "p99_ms": percentile(delays, 99) * 1e3,
            "max_ms": (delays[-1] if delays else float("nan")) * 1e3,
        }
        logger.info("  fan-out: %s", out["fanout"])
    return out
