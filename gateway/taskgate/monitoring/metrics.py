"""``GET /metrics``: Prometheus text, one registry per gateway process.

Why per process and not prometheus-client's multiprocess mode: the live figures (open
sockets, watched jobs) are read from this process's hub at scrape time, which multiprocess
mode cannot do for gauges without a shared directory and files per pid. Each gateway
process is scraped on its own address (``taskgate gateway --own-port``, or each container
in compose) and Prometheus sums them (``sum by (path) (rate(...))``).

The counters only the workers see (progress reports coalesced, pushes that failed) live in
one Redis hash the workers add to (:mod:`taskgate.events.stats`); every gateway reports the same
cluster-wide value, so take ``max`` of them, not ``sum``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from taskgate.auth.tokens import bearer
from taskgate.config import get_config
from taskgate.contract.keys import STATS_KEY
from taskgate.counters import (
    REGISTRY,
)

logger = logging.getLogger(__name__)


class RuntimeCollector(Collector):
    """Figures read from this process's runtime at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from taskgate.delivery.runtime import all_runtimes

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


def _refusal(request: HttpRequest) -> HttpResponse | None:
    config = get_config()
    if not config.metrics_token:
        if not config.production:
            return None
        return JsonResponse(
            {"code": "forbidden", "message": "set TASKGATE_METRICS_TOKEN to scrape /metrics"},
            status=403,
        )
    given = bearer(request.headers.get("Authorization")) or ""
    if hmac.compare_digest(given.encode(), config.metrics_token.encode()):
        return None
    response = JsonResponse(
        {"code": "unauthorized", "message": "send the metrics token as Authorization: Bearer"},
        status=401,
    )
    response["WWW-Authenticate"] = 'Bearer realm="taskgate-metrics"'
    return response


async def _worker_stats() -> list[CounterMetricFamily]:
    from taskgate.delivery.runtime import get_runtime

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
    """Prometheus text. With ``TASKGATE_METRICS_TOKEN`` set, only for ``Authorization: Bearer
    <that token>``; without one, open in development and refused in production."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    body = generate_latest(REGISTRY)
    worker = CollectorRegistry()
    families = await _worker_stats()

    class _Static(Collector):
        def collect(self) -> Iterator[CounterMetricFamily]:
            return iter(families)

    worker.register(_Static())
    body += generate_latest(worker)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
