"""Where the delay goes: the trace lines of the workers and gateways joined with what the
clients received (``TASKGATE_BENCH_STAGES_DIR``, :mod:`taskgate.events.stage_times`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.stats import percentile
from bench.watch import Received

# (label, stage it starts at, stage it ends at); "reported" is the event's ts, "sent" when
# the store script left the worker, "stored" when its answer came back. With the direct push
# the script also published the event ("published" is "sent" then), and the worker does not
# wait for the answer (it is read after its next run is sent): there is no "stored" then, and
# the two rows that need it are left empty.
STAGES = (
    ("reported -> sent to Redis", "reported", "sent"),
    ("sent -> stored (answer back)", "sent", "stored"),
    ("stored -> published (thread)", "stored", "published"),
    ("published -> in gateway", "published", "arrived"),
    ("in gateway -> written", "arrived", "written"),
    ("written -> received", "written", "received"),
)


def _read(trace_dir: Path) -> dict[tuple[str, int], dict[str, float]]:
    marks: dict[tuple[str, int], dict[str, float]] = {}
    for path in trace_dir.glob("*.trace"):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) < 4:
                continue  # a line cut short by a process that was stopped
            stage, job_id, seq, times = parts[0], parts[1], int(parts[2]), parts[3:]
            at = marks.setdefault((job_id, seq), {})
            if stage == "gateway-push" and len(times) == 2:
                at["arrived"], at["written"] = float(times[0]), float(times[1])
            elif stage == "stored" and len(times) == 2:
                at["sent"], at["stored"] = float(times[0]), float(times[1])
            elif stage in ("sent", "published"):
                at[stage] = float(times[0])
    return marks


def delay_split(trace_dir: Path, received: Received) -> dict[str, Any]:
    """p50 and p99 (ms) of each stage over every received progress event, and how many
    received events had every mark."""
    marks = _read(trace_dir)
    spans: dict[str, list[float]] = {label: [] for label, _, _ in STAGES}
    complete = 0
    for job_id, seq, reported, got in received.samples:
        at = marks.get((job_id, seq))
        if at is None or not {"sent", "published", "arrived", "written"} <= set(at):
            continue
        complete += 1
        times = {**at, "reported": reported, "received": got}
        for label, start, end in STAGES:
            if start in times and end in times:
                spans[label].append(times[end] - times[start])
    out: dict[str, Any] = {"split_events": complete}
    for label, values in spans.items():
        values.sort()
        out[f"{label} p50"] = percentile(values, 50) * 1e3
        out[f"{label} p99"] = percentile(values, 99) * 1e3
    return out
