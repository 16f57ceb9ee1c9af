"""``taskgate doctor``: is everything the gateway needs there? Says what is wrong in plain words.

Checks, in order: Redis (the result backend and job records; with Sentinel, which master the
sentinels name), the broker, a live Celery worker (a control ping through the broker), a
round trip through the channel layer, and the database (it answers, migrations applied). Each
check has a deadline; the command exits 1 when any of them fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from taskgate.config import get_config

logger = logging.getLogger("taskgate.doctor")


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str


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
    from taskgate.config.celery_app import result_target

    target = result_target()
    where = target.describe()
    client = target.sync_client(socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except Exception as exc:
        return Finding(
            "redis",
            False,
            f"cannot reach Redis at {where}: {_why(exc)}. Is redis-server running, and "
            "does REDIS_URL (or TASKGATE_RESULT_URL, or the sentinels) point at it?",
        )
    finally:
        client.close()
    return Finding("redis", True, f"Redis at {where} answers PING")


def check_sentinel(timeout: float) -> Finding:
    """Which master the sentinels name now (only asked when Sentinel is configured)."""
    from taskgate.config.celery_app import result_target

    target = result_target()
    try:
        host, port = target.master_address(timeout)
    except Exception as exc:
        return Finding(
            "sentinel",
            False,
            f"no sentinel named a master {target.master!r}: {_why(exc)}. Check "
            "TASKGATE_REDIS_SENTINELS and TASKGATE_REDIS_MASTER.",
        )
    return Finding(
        "sentinel", True, f"the sentinels name {host}:{port} as master {target.master!r}"
    )


def check_broker(timeout: float) -> Finding:
    from taskgate.config.celery_app import celery_app
    from taskgate.config.redis_target import RedisTarget

    conf = celery_app().conf
    where = RedisTarget.from_celery(str(conf.broker_url), conf.broker_transport_options).describe()
    try:
        with celery_app().connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=int(max(1, timeout)))
    except Exception as exc:
        return Finding(
            "broker",
            False,
            f"cannot reach the Celery broker at {where}: {_why(exc)}. Jobs cannot be "
            "dispatched; check REDIS_URL (or TASKGATE_BROKER_URL).",
        )
    return Finding("broker", True, f"the broker at {where} accepts connections")


def check_worker(timeout: float) -> Finding:
    from taskgate.config.celery_app import celery_app

    try:
        replies: list[dict[str, Any]] = celery_app().control.ping(timeout=timeout) or []
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


def check_database(timeout: float) -> Finding:
    """The database answers and every migration is applied."""
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    connection = connections[DEFAULT_DB_ALIAS]
    where = _database_where(connection.settings_dict)
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return Finding(
            "database",
            False,
            f"cannot use the database ({where}): {_why(exc)}. Job rows, users, tokens and "
            "sessions live there; check DATABASE_URL.",
        )
    finally:
        connection.close()
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:3])
        more = f" and {len(pending) - 3} more" if len(pending) > 3 else ""
        return Finding(
            "database",
            False,
            f"{len(pending)} migration(s) not applied in {where} ({names}{more}): run "
            "`taskgate manage migrate`.",
        )
    return Finding("database", True, f"{where} answers and every migration is applied")


def _database_where(settings: dict[str, Any]) -> str:
    """``PostgreSQL at host:port/name`` or ``SQLite at path``, without credentials."""
    engine = str(settings.get("ENGINE", ""))
    if engine.endswith("sqlite3"):
        return f"SQLite at {settings.get('NAME')}"
    kind = "PostgreSQL" if "postgresql" in engine else engine.rsplit(".", 1)[-1]
    host = settings.get("HOST") or "localhost"
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"{kind} at {host}{port}/{settings.get('NAME')}"


async def _layer_round_trip(step_seconds: float) -> None:
    from channels.layers import get_channel_layer

    from taskgate.monitoring.health import layer_round_trip

    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    try:
        await layer_round_trip(layer, "doctor", step_seconds)
    finally:
        flush = getattr(layer, "flush", None)
        if flush is not None:
            async with asyncio.timeout(step_seconds):
                await flush()


def check_channel_layer(timeout: float) -> Finding:
    from taskgate.config.redis_target import RedisTarget

    config = get_config()
    where = RedisTarget.from_setting(
        config.channel_url, config.redis_sentinels, config.redis_master
    ).describe()
    try:
        asyncio.run(_layer_round_trip(timeout))
    except Exception as exc:
        return Finding(
            "channel layer",
            False,
            f"a message sent through the channel layer ({where}) did not come back: "
            f"{_why(exc)}. Progress would not be pushed (only the slow fallback poll "
            "would deliver it); check REDIS_URL (or TASKGATE_CHANNEL_URL).",
        )
    return Finding("channel layer", True, f"a message went through the layer at {where}")


def diagnose(timeout: float) -> list[Finding]:
    from taskgate.config.celery_app import result_target

    findings = [check_redis(timeout)]
    if result_target().via_sentinel:
        findings.append(check_sentinel(timeout))
    broker = check_broker(timeout)
    findings.append(broker)
    if broker.ok:
        findings.append(check_worker(timeout))
    else:
        findings.append(Finding("worker", False, "not checked: the broker is unreachable"))
    findings.append(check_channel_layer(timeout))
    findings.append(check_database(timeout))
    return findings


def run_doctor(timeout: float = 5.0) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskgate.serve.settings")
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
