"""``GET /metrics``: Prometheus text, one registry per gateway process.

Why per process and not prometheus-client's multiprocess mode: the live figures (open
sockets, watched jobs) are read from this process's hub at scrape time, which multiprocess
mode cannot do for gauges without a shared directory and files per pid. Each gateway
process is scraped on its own address (``taskgate gateway --own-port``, or each container
in compose) and Prometheus sums them (``sum by (path) (rate(...))``).

The counters only the workers see (progress reports coalesced, pushes that failed) live in
one Redis hash the workers add to (:mod:`tasks.stats`); every gateway reports the same
cluster-wide value, so take ``max`` of them, not ``sum``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from tasks.stats import STATS_KEY

logger = logging.getLogger(__name__)

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


def observe_delay(path: str, ts: object) -> None:
    """Record now minus ``ts`` (an event's ISO 8601 UTC timestamp) for an event that arrived."""
    if not isinstance(ts, str):
        return
    try:
        sent = datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return
    DELAY.labels(path).observe(max(0.0, time.time() - sent))


class RuntimeCollector(Collector):
    """Figures read from this process's runtime at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from gateway.runtime import all_runtimes

        runtimes = all_runtimes()
        sockets = GaugeMetricFamily("taskgate_open_sockets", "Open sockets and event streams")
        sockets.add_metric([], sum(len(r.hub.connections) for r in runtimes))
        yield sockets
        watched = GaugeMetricFamily("taskgate_watched_jobs", "Jobs watched in this process")
        watched.add_metric([], sum(len(r.hub.watchers) for r in runtimes))
        yield watched
        delivered = CounterMetricFamily(
            "taskgate_events_delivered",
            "Job events handed to local watchers, by the path they came by",
            labels=["path"],
        )
        totals: dict[str, int] = {"push": 0, "fallback": 0}
        for runtime in runtimes:
            for path, count in runtime.hub.delivered.items():
                totals[path] = totals.get(path, 0) + count
        for path, count in sorted(totals.items()):
            delivered.add_metric([path], count)
        yield delivered
        layer = GaugeMetricFamily("taskgate_layer_up", "1 while the channel layer is reachable")
        layer.add_metric([], float(all(r.hub.layer_ok for r in runtimes)))
        yield layer


REGISTRY.register(RuntimeCollector())


async def _worker_stats() -> list[CounterMetricFamily]:
    from gateway.runtime import get_runtime

    family = CounterMetricFamily(
        "taskgate_worker_signals",
        "Cluster-wide, from the workers: progress reports coalesced, pushes that failed",
        labels=["kind"],
    )
    try:
        raw = await get_runtime().store.client.hgetall(STATS_KEY)
    except (RedisError, OSError) as exc:
        logger.warning("metrics: could not read the worker counters: %r", exc)
        raw = {}
    values = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
    for kind in ("coalesced", "push_failed"):
        family.add_metric([kind], values.get(kind, 0))
    return [family]


async def metrics(request: HttpRequest) -> HttpResponse:
    body = generate_latest(REGISTRY)
    worker = CollectorRegistry()
    families = await _worker_stats()

    class _Static(Collector):
        def collect(self) -> Iterator[CounterMetricFamily]:
            return iter(families)

    worker.register(_Static())
    body += generate_latest(worker)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
