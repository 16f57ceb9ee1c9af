"""``taskgate doctor``: is everything the gateway needs there? Says what is wrong in plain words.

Checks, in order: Redis (the result backend and job records), the broker, a live Celery
worker (a control ping through the broker), and a round trip through the channel layer. Each
check has a deadline; the command exits 1 when any of them fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

logger = logging.getLogger("taskgate.doctor")


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str


def _where(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _why(exc: BaseException) -> str:
    """The plain-words reason, looking through the exceptions that caused this one."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for link in chain:
        text = str(link).lower()
        if isinstance(link, ConnectionRefusedError) or "refused" in text or "error 111" in text:
            return "the connection was refused (nothing listens there)"
        if isinstance(link, TimeoutError) or "timed out" in text or "timeout" in text:
            return "it did not answer in time"
    return (str(exc) or type(exc).__name__).rstrip(".")


def check_redis(timeout: float) -> Finding:
    import redis
    from django.conf import settings

    url = str(settings.TASKGATE_RESULT_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except Exception as exc:
        return Finding(
            "redis",
            False,
            f"cannot reach Redis at {_where(url)}: {_why(exc)}. Is redis-server running, and "
            "does REDIS_URL (or TASKGATE_RESULT_URL) point at it?",
        )
    finally:
        client.close()
    return Finding("redis", True, f"Redis at {_where(url)} answers PING")


def check_broker(timeout: float) -> Finding:
    from tasks.celery_app import app

    url = str(app.conf.broker_url)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=int(max(1, timeout)))
    except Exception as exc:
        return Finding(
            "broker",
            False,
            f"cannot reach the Celery broker at {_where(url)}: {_why(exc)}. Jobs cannot be "
            "dispatched; check REDIS_URL (or TASKGATE_BROKER_URL).",
        )
    return Finding("broker", True, f"the broker at {_where(url)} accepts connections")


def check_worker(timeout: float) -> Finding:
    from tasks.celery_app import app

    try:
        replies: list[dict[str, Any]] = app.control.ping(timeout=timeout) or []
    except Exception as exc:
        return Finding("worker", False, f"could not ping the workers: {_why(exc)}")
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return Finding(
            "worker",
            False,
            f"no Celery worker answered a ping within {timeout:g}s: submitted jobs will wait "
            "in the queue. Start one with `taskgate worker` against the same REDIS_URL.",
        )
    return Finding("worker", True, f"{len(names)} worker(s) answered: {', '.join(names)}")


async def _layer_round_trip(step_seconds: float) -> None:
    from channels.layers import get_channel_layer

    from gateway.health import layer_round_trip

    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    try:
        await layer_round_trip(layer, "doctor", step_seconds)
    finally:
        flush = getattr(layer, "flush", None)
        if flush is not None:
            await asyncio.wait_for(flush(), step_seconds)


def check_channel_layer(timeout: float) -> Finding:
    from django.conf import settings

    url = str(settings.TASKGATE_CHANNEL_URL)
    try:
        asyncio.run(_layer_round_trip(timeout))
    except Exception as exc:
        return Finding(
            "channel layer",
            False,
            f"a message sent through the channel layer ({_where(url)}) did not come back: "
            f"{_why(exc)}. Progress would not be pushed (only the slow fallback poll "
            "would deliver it); check REDIS_URL (or TASKGATE_CHANNEL_URL).",
        )
    return Finding("channel layer", True, f"a message went through the layer at {_where(url)}")


def diagnose(timeout: float) -> list[Finding]:
    findings = [check_redis(timeout)]
    broker = check_broker(timeout)
    findings.append(broker)
    if broker.ok:
        findings.append(check_worker(timeout))
    else:
        findings.append(Finding("worker", False, "not checked: the broker is unreachable"))
    findings.append(check_channel_layer(timeout))
    return findings


def run_doctor(timeout: float = 5.0) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    django.setup()
    # Django's LOGGING sends everything to stderr with timestamps; the report is plain stdout.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    findings = diagnose(timeout)
    for finding in findings:
        logger.info(
            "%-8s %-14s %s", "ok" if finding.ok else "PROBLEM", finding.check, finding.message
        )
    problems = [f for f in findings if not f.ok]
    if problems:
        logger.info("%d problem(s) found", len(problems))
        return 1
    logger.info("all checks passed")
    return 0
