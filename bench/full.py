"""``python -m bench.full``: the whole benchmark of issue 16 in one run, tables and plots.

1. real workers, light and heavy load: taskgate before and after the direct push, and the
   peers (celery-progress 0.5 WebSocket and HTTP polling modes, the article's 0.1 s loop),
   each in its own venv made for the run and removed after it; the delay split and the
   Redis commands per progress event;
2. latency against offered load into one gateway process, taskgate and each peer;
3. many sockets: memory and CPU per socket at each level, idle Redis commands/s per
   gateway process, one event fanned out to every socket.

Writes ``OUT/results.json``, ``OUT/results.md`` (the tables) and the PNG plots (drawn with
matplotlib in a venv of its own). Each part is skipped once ``--budget`` minutes have
passed, so the run stays bounded on a slow machine (what was skipped is said in the tables).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.curve import PEER_MODES, peer_curve, taskgate_curve
from bench.peers import PeerVenvs
from bench.procs import BenchEnv, raise_nofile
from bench.realworker import LOADS, VARIANTS, run_floor, run_real
from bench.run import describe
from bench.scenarios import SETTLE
from bench.sockets import many_sockets
from bench.tables import render

logger = logging.getLogger("bench")
ROOT = Path(__file__).resolve().parent.parent


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.full", description=__doc__)
    p.add_argument("--out", default=str(ROOT / "docs" / "bench"), help="where results go")
    p.add_argument("--parts", default="real,curve,sockets", help="which parts to run")
    p.add_argument("--loads", default="light,heavy")
    p.add_argument("--variants", default=";".join(VARIANTS), help="';'-separated")
    p.add_argument("--rates", default="500,1000,2000,5000,10000,20000", help="curve steps")
    p.add_argument("--curve-sockets", type=int, default=200)
    p.add_argument("--curve-seconds", type=float, default=4.0)
    p.add_argument("--levels", default="10000,30000,100000", help="socket counts")
    p.add_argument("--gateways", type=int, default=6, help="gateway processes for the sockets")
    p.add_argument("--per-loadgen", type=int, default=15000, help="sockets per load generator")
    p.add_argument("--idle-seconds", type=float, default=10.0)
    p.add_argument("--budget", type=float, default=15.0, help="minutes; later parts skipped")
    p.add_argument(
        "--asyncio-loop",
        dest="uvloop",
        action="store_false",
        help="watchers on asyncio's own loop instead of uvloop's",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="reduced scale: proves every part runs (heavy load 20 jobs / 200 sockets, "
        "curve to 2,000 events/s, 2,000 and 5,000 sockets)",
    )
    return p


def _quick(args: argparse.Namespace) -> None:
    from bench.realworker import Load

    LOADS["heavy"] = Load("heavy", jobs=20, sockets=200, steps=30, interval=0.1)
    LOADS["light"] = Load("light", jobs=2, sockets=2, steps=30, interval=0.1)
    args.rates, args.curve_seconds = "500,2000", 3.0
    args.levels, args.gateways, args.per_loadgen = "2000,5000", 2, 2500
    args.idle_seconds = 4.0
    SETTLE["seconds"] = 1.5


def _save(results: dict[str, Any], out: Path) -> None:
    """What is done so far (a later part that fails leaves the earlier ones on disk)."""
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))


async def _run(
    args: argparse.Namespace, env: BenchEnv, venvs: PeerVenvs, out: Path
) -> dict[str, Any]:
    deadline = time.monotonic() + args.budget * 60
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {"skipped": []}

    def time_left(part: str) -> bool:
        if time.monotonic() < deadline:
            return True
        logger.warning("out of time: %s skipped", part)
        results["skipped"].append(part)
        return False

    if "real" in parts:
        loads = [load for load in args.loads.split(",") if load]
        if "light" in loads:
            results["floor"] = await run_floor(env)
        results["real"] = await run_real(env, venvs, loads, args.variants.split(";"))
        _save(results, out)
    if "curve" in parts:
        rates = [float(r) for r in args.rates.split(",")]
        curves: dict[str, Any] = {}
        if time_left("curve: taskgate"):
            curves["taskgate"] = await taskgate_curve(
                env, rates, args.curve_sockets, args.curve_seconds, 2
            )
        for variant in PEER_MODES:
            if time_left(f"curve: {variant}"):
                try:
                    curves[variant] = await peer_curve(
                        env, venvs, variant, rates, args.curve_sockets, args.curve_seconds
                    )
                except Exception as exc:  # one peer failing must not lose the rest
                    logger.exception("curve of %s failed", variant)
                    curves[variant] = [{"error": repr(exc)[:200]}]
        results["curves"] = curves
        _save(results, out)
    if "sockets" in parts and time_left("sockets"):
        levels = [int(n) for n in args.levels.split(",")]
        raise_nofile(20000)
        try:
            results["sockets"] = await many_sockets(
                env, levels, args.gateways, args.per_loadgen, 1000, args.idle_seconds
            )
        except Exception as exc:
            logger.exception("the many-sockets part failed")
            results["sockets"] = {"error": repr(exc)[:300]}
    return results


def _plot(venvs: PeerVenvs, results_file: Path, out: Path) -> None:
    try:
        python = venvs.get("plots")
    except Exception:
        logger.exception("could not install matplotlib: no plots")
        return
    done = subprocess.run(
        [str(python), "-m", "bench.plots", str(results_file), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        logger.error("plots failed: %s", done.stderr[-2000:])


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    # This process is the load generator: its own collections of thousands of sockets and
    # samples must not show as delay of the systems it measures.
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    if args.quick:
        _quick(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    env = BenchEnv().start()
    venvs = PeerVenvs(env.root)
    # Not asyncio.run: a watcher stuck in a client library must not hang the end of the run.
    loop = uvloop.new_event_loop() if args.uvloop else asyncio.new_event_loop()
    try:
        results = loop.run_until_complete(_run(args, env, venvs, out))
        results["machine"] = describe()
        results["minutes"] = (time.monotonic() - began) / 60
        results["scale"] = "quick" if args.quick else "full"
        _save(results, out)
        results_file = out / "results.json"
        text = render(results)
        (out / "results.md").write_text(text)
        _plot(venvs, results_file, out)
    finally:
        env.close()
        venvs.close()
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
