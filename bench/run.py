"""``python -m bench``: run the scenarios against taskgate and the baseline, print a table.

Everything runs on this machine in processes the run starts itself: a private Redis on a
free port, real gateway processes (``python -m taskgate gateway``), the baseline server,
emitter processes, and the load generator (this process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.procs import BenchEnv, raise_nofile
from bench.scenarios import SETTLE, Target, burst, idle, latency
from bench.stats import table

logger = logging.getLogger("bench")

Results = dict[str, dict[str, dict[str, Any]]]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--scenarios", default="1,2,3", help="which of 1,2,3 to run")
    p.add_argument("--gateways", default="1,2", help="gateway process counts to run, e.g. 1,2")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument(
        "--no-stored", action="store_true", help="skip S1 with every progress state stored"
    )
    p.add_argument("--sockets", type=int, default=1000, help="S1: watching sockets")
    p.add_argument("--jobs", type=int, default=1000, help="S1/S2/S3: jobs")
    p.add_argument("--rate", type=float, default=2000, help="S1: progress events per second")
    p.add_argument("--duration", type=float, default=30, help="S1: seconds")
    p.add_argument("--emitters", type=int, default=2, help="emitter processes")
    p.add_argument("--idle-sockets", type=int, default=10000, help="S2: sockets")
    p.add_argument("--idle-seconds", type=float, default=60, help="S2: seconds measured")
    p.add_argument("--burst-events", type=int, default=10000, help="S3: events in the burst")
    p.add_argument(
        "--burst-rate",
        type=float,
        default=0,
        help="S3: offered events/s (0, the default: as fast as the emitters send them)",
    )
    p.add_argument("--json", help="also write the results here")
    p.add_argument(
        "--smoke", action="store_true", help="tiny parameters: proves it runs (tests use it)"
    )
    return p


SMOKE = {
    "sockets": 40,
    "jobs": 40,
    "rate": 200.0,
    "duration": 2.0,
    "emitters": 1,
    "idle_sockets": 100,
    "idle_seconds": 2.0,
    "burst_events": 400,
    "burst_rate": 2000.0,
}


async def run(args: argparse.Namespace, env: BenchEnv) -> Results:
    scenarios = {int(s) for s in args.scenarios.split(",") if s}
    # name, gateway processes, baseline?, how the emitters report progress
    variants: list[tuple[str, int, bool, str]] = [
        (f"taskgate x{n}", int(n), False, "publish") for n in args.gateways.split(",") if n
    ]
    if not args.no_baseline:
        # The baseline can only see stored states: its emitters store every one.
        if 1 in scenarios and not args.no_stored:
            variants.append(("taskgate x1, stored", 1, False, "store"))
        variants.append(("baseline", 1, True, "store"))
    results: Results = {}
    for name, gateways, baseline, path in variants:
        out = results.setdefault(name, {})
        if 1 in scenarios:
            logger.info("%s: scenario 1 (latency under load)", name)
            async with Target(env, gateways, baseline) as target:
                out["s1"] = await latency(
                    target, args.sockets, args.jobs, args.rate, args.duration, args.emitters, path
                )
            logger.info("  %s", out["s1"])
        if path == "store" and not baseline:
            continue
        if 2 in scenarios:
            logger.info("%s: scenario 2 (idle cost)", name)
            async with Target(env, gateways, baseline) as target:
                out["s2"] = await idle(target, args.idle_sockets, args.jobs, args.idle_seconds)
            logger.info("  %s", out["s2"])
        if 3 in scenarios and not baseline:
            logger.info("%s: scenario 3 (burst)", name)
            async with Target(env, gateways, baseline) as target:
                out["s3"] = await burst(
                    target, args.jobs, args.burst_events, args.burst_rate, args.emitters
                )
            logger.info("  %s", out["s3"])
    return results


ROWS: list[tuple[str, str, str, str]] = [
    # scenario key, metric key, label, target
    ("s1", "p50_ms", "S1 delay p50 (ms)", "<= 2, >= 25x below baseline"),
    ("s1", "p90_ms", "S1 delay p90 (ms)", ""),
    ("s1", "p99_ms", "S1 delay p99 (ms)", "<= 20"),
    ("s1", "max_ms", "S1 delay max (ms)", ""),
    ("s1", "gw_p50_ms_le", "S1 arrival in gateway p50 (ms, bucket)", ""),
    ("s1", "gw_p99_ms_le", "S1 arrival in gateway p99 (ms, bucket)", ""),
    ("s1", "offered_per_s", "S1 events/s offered", ""),
    ("s1", "events", "S1 events received", ""),
    ("s1", "lost_terminals", "S1 terminal states lost", "0"),
    ("s1", "cpu_pct", "S1 server CPU (% of one core)", ""),
    ("s2", "sockets", "S2 idle sockets", "10,000 on one process"),
    ("s2", "commands_per_s_per_process", "S2 Redis commands/s per process", "<= 1"),
    ("s2", "commands_per_s", "S2 Redis commands/s total", ""),
    ("s2", "top_commands", "S2 top commands", ""),
    ("s2", "rss_per_socket_kib", "S2 RSS per socket (KiB)", "<= 32"),
    ("s2", "cpu_pct", "S2 server CPU (% of one core)", ""),
    ("s3", "events_sent", "S3 events sent", ""),
    ("s3", "emit_seconds", "S3 emitters' time to send (s)", ""),
    ("s3", "delivered", "S3 events delivered", ""),
    ("s3", "delivered_per_s", "S3 delivered events/s", ">= 10,000"),
    ("s3", "gateway_cpu_s", "S3 gateway CPU (s)", ""),
    ("s3", "per_cpu_second", "S3 events delivered per gateway CPU-second", ""),
    ("s3", "emitters_cpu_s", "S3 emitters' CPU (s)", ""),
    ("s3", "loadgen_cpu_s", "S3 load generator's CPU (s)", ""),
    ("s3", "last_terminal_s", "S3 last terminal after start (s)", ""),
    ("s3", "lost_terminals", "S3 terminal states lost", "0"),
]


def render(results: Results) -> str:
    variants = list(results)
    rows = []
    for scenario, key, label, target in ROWS:
        values = [results[v].get(scenario, {}).get(key) for v in variants]
        if all(value is None for value in values):
            continue
        rows.append([label, target, *values])
    base = results.get("baseline", {}).get("s1", {}).get("p50_ms")
    if base:
        ratio = []
        for variant in variants:
            ours = results[variant].get("s1", {}).get("p50_ms")
            usable = variant != "baseline" and ours and not math.isnan(ours)
            ratio.append(base / ours if usable else None)
        rows.append(["S1 p50: baseline / this", ">= 25", *ratio])
    return table(rows, ["metric", "target", *variants])


def describe() -> str:
    load = os.getloadavg()
    names = ("django", "channels", "channels-redis", "celery", "redis", "uvicorn", "websockets")
    versions = ", ".join(f"{n} {version(n)}" for n in names)
    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.node()}: "
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}; {versions}; "
        f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
        SETTLE["seconds"] = 1.0
    raise_nofile(2 * max(args.idle_sockets, args.sockets) + 1000)
    env = BenchEnv().start()
    try:
        results = asyncio.run(run(args, env))
    finally:
        env.close()
    sys.stdout.write(describe() + "\n\n" + render(results) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0
