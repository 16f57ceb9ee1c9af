"""The tables of ``python -m bench.full`` (markdown), from its results."""

from __future__ import annotations

import math
from typing import Any

from bench.split import STAGES
from bench.stats import table

REAL_ROWS = (
    ("p50_ms", "delay p50 (ms)"),
    ("p90_ms", "delay p90 (ms)"),
    ("p99_ms", "delay p99 (ms)"),
    ("max_ms", "delay max (ms)"),
    ("received", "states received (all watchers)"),
    ("expected", "states pushed (all watchers)"),
    ("states_seen_pct", "distinct states seen (%)"),
    ("lost_ends", "watchers that missed the end"),
    ("redis_per_event", "Redis commands per progress event"),
    ("redis_top", "top commands per event"),
    ("error", "error"),
)
# Targets: taskgate's p50 at least this many times below each peer's (issue 16).
RATIOS = {"celery-progress ws": 10, "article loop": 50, "celery-progress http": 250}


def _ratio(a: Any, b: Any) -> float | None:
    ok = all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in (a, b))
    return a / b if ok else None


def real_table(load: str, results: dict[str, dict[str, Any]]) -> str:
    variants = list(results)
    rows: list[list[Any]] = []
    for key, label in REAL_ROWS:
        values = [results[v].get(key) for v in variants]
        if any(value is not None for value in values):
            rows.append([label, *values])
    ours = results.get("taskgate", {}).get("p50_ms")
    for peer, target in RATIOS.items():
        if peer in results:
            ratio = _ratio(results[peer].get("p50_ms"), ours)
            label = f"{peer} p50 / taskgate p50 (target >= {target})"
            rows.append([label, *[ratio if v == peer else None for v in variants]])
    return f"Real workers, {load} load\n\n" + table(rows, ["metric", *variants])


def floor_table(floor: dict[str, dict[str, Any]], light: dict[str, dict[str, Any]]) -> str:
    """The floor next to what the light load's p50 ratio targets ask of taskgate."""
    rows: list[list[Any]] = [
        [f"floor: {path}", values.get("p50_ms"), values.get("p99_ms")]
        for path, values in floor.items()
    ]
    for peer, target in RATIOS.items():
        p50 = light.get(peer, {}).get("p50_ms")
        if isinstance(p50, int | float) and math.isfinite(p50):
            rows.append([f"{target}x below {peer} (its p50 / {target})", p50 / target, None])
    header = ["chain, light load's pace", "p50 (ms)", "p99 (ms)"]
    return "This machine's floor, in the same run\n\n" + table(rows, header)


def split_table(real: dict[str, dict[str, dict[str, Any]]]) -> str:
    columns: list[tuple[str, str]] = [
        (load, variant)
        for load, results in real.items()
        for variant in results
        if variant.startswith("taskgate") and "split_events" in results[variant]
    ]
    if not columns:
        return ""
    rows: list[list[Any]] = []
    for label, _, _ in STAGES:
        for q in ("p50", "p99"):
            rows.append(
                [f"{label} {q} (ms)", *[real[load][v].get(f"{label} {q}") for load, v in columns]]
            )
    rows.append(["events with every mark", *[real[load][v]["split_events"] for load, v in columns]])
    header = ["stage", *[f"{variant}, {load}" for load, variant in columns]]
    return "Where the delay goes (taskgate)\n\n" + table(rows, header)


def curve_table(curves: dict[str, list[dict[str, Any]]]) -> str:
    rates = sorted({float(s["rate"]) for steps in curves.values() for s in steps if "rate" in s})
    rows: list[list[Any]] = []
    for name, steps in curves.items():
        by_rate = {float(s["rate"]): s for s in steps if "rate" in s}
        for key, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("offered_per_s", "offered/s")):
            rows.append([f"{name} {label}", *[by_rate.get(r, {}).get(key) for r in rates]])
    header = ["variant", *[f"{r:,.0f}/s" for r in rates]]
    return "Latency (ms) against offered load, one gateway process\n\n" + table(rows, header)


def sockets_table(many: dict[str, Any]) -> str:
    levels = many.get("levels") or []
    rows: list[list[Any]] = []
    keys = (
        ("open", "open sockets"),
        ("failed", "sockets that failed to open"),
        ("connect_s", "seconds to open them"),
        ("rss_mib", "gateways' RSS (MiB)"),
        ("rss_per_socket_kib", "RSS per socket (KiB), target <= 20"),
        ("cpu_pct", "gateways' CPU while idle (% of a core)"),
        ("redis_per_s_per_process", "idle Redis commands/s per gateway, target <= 1"),
        ("redis_top", "top idle commands (all gateways)"),
    )
    for key, label in keys:
        rows.append([label, *[row.get(key) for row in levels]])
    header = ["metric", *[f"{row['asked']:,}" for row in levels]]
    text = f"Many sockets, {many.get('gateways')} gateway processes\n\n" + table(rows, header)
    fan = many.get("fanout")
    if fan:
        text += "\n\nOne progress event to each of 1,000 jobs, to every socket watching them\n\n"
        text += table([[k, v] for k, v in fan.items()], ["metric", "value"])
    return text


def render(results: dict[str, Any]) -> str:
    parts = [f"Run: {results.get('machine')}; {results.get('minutes', 0):.1f} minutes, scale "]
    parts[0] += str(results.get("scale"))
    for load, by_variant in (results.get("real") or {}).items():
        parts.append(real_table(load, by_variant))
    if results.get("real"):
        parts.append(split_table(results["real"]))
    if results.get("floor"):
        parts.append(floor_table(results["floor"], (results.get("real") or {}).get("light", {})))
    if results.get("curves"):
        parts.append(curve_table(results["curves"]))
    if results.get("sockets"):
        parts.append(sockets_table(results["sockets"]))
    if results.get("skipped"):
        parts.append("Skipped (out of time): " + ", ".join(results["skipped"]))
    return "\n\n".join(p for p in parts if p) + "\n"
