"""This process's Prometheus counters and histograms (served by ``GET /metrics``).

A leaf: the delivery path and the transports count here; :mod:`taskgate.monitoring.metrics`
adds the live figures and renders them.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()


DELAY = Histogram(
    "taskgate_event_delay_seconds",
    "End-to-end delay of a job event: its arrival in this process minus its ts",
    ["path"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)


DROPPED = Counter(
    "taskgate_dropped_total",
    "Frames or sockets dropped: outbox_full / send_timeout close a slow reader",
    ["reason"],
    registry=REGISTRY,
)


ERRORS = Counter(
    "taskgate_errors_total", "Requests refused, by protocol error code", ["code"], registry=REGISTRY
)


FALLBACK_ROUNDS = Counter(
    "taskgate_fallback_rounds_total",
    "Rounds of the fallback poll; mode=degraded while the channel layer is unreachable",
    ["mode"],
    registry=REGISTRY,
)


def observe_delay(path: str, ts: object, arrived: float) -> None:
    """Record ``arrived`` minus ``ts`` (an event's ISO 8601 UTC timestamp)."""
    if not isinstance(ts, str):
        return
    try:
        sent = datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return
    DELAY.labels(path).observe(max(0.0, arrived - sent))


def count_refusal(code: str) -> None:
    """Count one refused request (an ``error`` event or an HTTP error body) by its code."""
    ERRORS.labels(code).inc()
