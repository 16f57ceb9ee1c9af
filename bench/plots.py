"""Draws the PNG plots of ``python -m bench.full`` from its results.json.

Run by the bench in its own venv with matplotlib (bench/peers.py, "plots"), never by
taskgate: ``python -m bench.plots results.json OUTDIR``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import matplotlib  # type: ignore[import-not-found]

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # type: ignore[import-not-found]


def _finite(values: list[Any]) -> list[float]:
    return [
        float(v) if isinstance(v, int | float) and math.isfinite(v) else math.nan for v in values
    ]


def latency_vs_load(curves: dict[str, list[dict[str, Any]]], out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    for name, steps in curves.items():
        if not steps:
            continue
        rates = [s.get("offered_per_s") or s["rate"] for s in steps]
        for ax, key in zip(axes, ("p50_ms", "p99_ms"), strict=True):
            ax.plot(rates, _finite([s.get(key) for s in steps]), marker="o", label=name)
    for ax, title in zip(axes, ("p50", "p99"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("progress events/s offered to one gateway process")
        ax.set_ylabel(f"delay {title} (ms)")
        ax.set_title(f"delay {title} against load")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "latency-vs-load.png", dpi=110)
    plt.close(fig)


def real_workers(real: dict[str, dict[str, dict[str, Any]]], out: Path) -> None:
    loads = list(real)
    if not loads:
        return
    fig, axes = plt.subplots(1, len(loads), figsize=(6 * len(loads), 4.5), squeeze=False)
    for ax, load in zip(axes[0], loads, strict=True):
        names = list(real[load])
        p50 = _finite([real[load][n].get("p50_ms") for n in names])
        p99 = _finite([real[load][n].get("p99_ms") for n in names])
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], p50, width=0.4, label="p50")
        ax.bar([x + 0.2 for x in xs], p99, width=0.4, label="p99")
        ax.set_xticks(list(xs), names, rotation=20, ha="right")
        ax.set_yscale("log")
        ax.set_ylabel("delay (ms): received - reported")
        ax.set_title(f"real workers, {load} load")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "real-workers.png", dpi=110)
    plt.close(fig)


def sockets(many: dict[str, Any], out: Path) -> None:
    levels = many.get("levels") or []
    if not levels:
        return
    opened = [row["open"] for row in levels]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    axes[0].plot(opened, _finite([r["rss_per_socket_kib"] for r in levels]), marker="o")
    axes[0].set_ylabel("gateway RSS per socket (KiB)")
    axes[1].plot(opened, _finite([r["cpu_pct"] for r in levels]), marker="o")
    axes[1].set_ylabel("gateways' CPU while idle (% of one core)")
    for ax in axes:
        ax.set_xlabel(f"open sockets ({many.get('gateways')} gateway processes)")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "sockets.png", dpi=110)
    plt.close(fig)


def main() -> int:
    results = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    latency_vs_load(results.get("curves") or {}, out)
    real_workers(results.get("real") or {}, out)
    sockets(results.get("sockets") or {}, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
