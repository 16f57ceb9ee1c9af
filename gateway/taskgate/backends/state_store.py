"""The gateway's reads and writes in Redis: job records, and job states from the result backend.

All I/O here is async (``redis.asyncio``); nothing connects at import time. States are read
in batches: one ``MGET`` carries the Celery meta and the seq counter of many jobs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from taskgate.config import get_config
from taskgate.config.celery_app import celery_app, result_target, result_ttl
from taskgate.config.redis_target import RedisTarget
from taskgate.contract.keys import (
    RUNNING_KEY,
    lease_key,
    parts_key,
    progress_key,
    record_key,
    seq_key,
    stalled_key,
)
from taskgate.contract.meta import decode_counter, state_from_meta
from taskgate.contract.states import JobState, State
from taskgate.contract.wire import JsonObject, dumps, now_ts

logger = logging.getLogger(__name__)

BATCH = 2000  # jobs per MGET (4 keys each): one command per round up to 2,000 watched jobs

# A new state for a job that is still running and whose lease is gone (its worker died).
_SETTLE_LOST = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, meta = pcall(cjson.decode, current)
if not ok or (meta['status'] ~= 'STARTED' and meta['status'] ~= 'PROGRESS') then return 0 end
if ARGV[3] == '1' then redis.call('INCR', KEYS[3]) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


# A running job found stalled: its seq counter must still be the seq of the state that was
# read (no progress, retry or end since), else another gateway marked it first or the job
# moved on. Then the stall takes the next seq (a new state for every watcher's seq filter).
# KEYS: meta, seq, stalled. ARGV: the seq read, the record's JSON up to its seq, ttl.
_MARK_STALLED = """
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[1]) then return 0 end
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, meta = pcall(cjson.decode, current)
if not ok or (meta['status'] ~= 'STARTED' and meta['status'] ~= 'PROGRESS') then return 0 end
local seq = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[3], ARGV[2] .. seq .. '}', 'EX', ARGV[3])
return seq
"""


class StoreUnavailable(Exception):
    """Redis could not be reached."""


@dataclass(frozen=True, slots=True)
class JobRecord:
    """What the gateway wrote when it dispatched a job."""

    job_id: str
    job: str
    owner: str
    created: str


class StateStore:
    """One per process and event loop; the client is made on first use."""

    def __init__(self, url: str | None = None) -> None:
        self._url = url
        self._client: aioredis.Redis | None = None

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            # A blocking pool: a burst of requests (a thousand sockets watching at once)
            # waits for a free connection instead of failing with "too many connections",
            # which the callers would report as Redis being unavailable.
            target = RedisTarget(self._url) if self._url else result_target()
            pool = target.async_pool(
                max_connections=get_config().redis_max_connections,
                timeout=5.0,
                socket_connect_timeout=get_config().redis_connect_timeout,
                socket_timeout=5.0,
                health_check_interval=30,
            )
            self._client = aioredis.Redis(connection_pool=pool)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def create(self, job_id: str, job: str, owner: str, params: JsonObject) -> JobRecord:
        record = JobRecord(job_id=job_id, job=job, owner=owner, created=now_ts())
        try:
            pipe = self.client.pipeline(transaction=True)
            queue_record(pipe, record, params)
            await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc
        return record

    async def forget(self, job_id: str) -> None:
        """Drop the record of a job whose dispatch failed (best effort)."""
        try:
            await self.client.delete(record_key(job_id))
        except (RedisError, OSError):
            logger.warning("could not delete the record of undispatched job %s", job_id)

    async def record(self, job_id: str) -> JobRecord | None:
        try:
            raw = await self.client.hmget(record_key(job_id), ["job", "owner", "created"])
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc
        job, owner, created = (text(value) for value in raw)
        if job is None or owner is None:
            return None
        return JobRecord(job_id, job, owner, created or "")

    async def state(self, job_id: str) -> JobState:
        """The job's current state, with its last progress (for snapshots)."""
        states = await self.states([job_id], with_progress=True)
        return states[job_id]

    async def states(
        self, job_ids: list[str], *, with_progress: bool = False
    ) -> dict[str, JobState]:
        """Current states of many jobs: one MGET per batch of jobs."""
        backend: Any = celery_app().backend
        out: dict[str, JobState] = {}
        try:
            for start in range(0, len(job_ids), BATCH):
                chunk = job_ids[start : start + BATCH]
                keys: list[Any] = []
                for job_id in chunk:
                    keys.append(backend.get_key_for_task(job_id))
                    keys.append(seq_key(job_id))
                    keys.append(lease_key(job_id))
                    keys.append(stalled_key(job_id))
                    if with_progress:
                        keys.append(progress_key(job_id))
                        keys.append(parts_key(job_id))
                values = await self.client.mget(keys)
                width = 6 if with_progress else 4
                for index, job_id in enumerate(chunk):
                    if index % 200 == 199:
                        await asyncio.sleep(0)  # decoding a big batch: let pushes through
                    row = values[index * width : (index + 1) * width]
                    meta = _decode_meta(backend, row[0])
                    progress = _decode_json(row[4]) if with_progress else None
                    state = state_from_meta(job_id, meta, decode_counter(row[1]), progress)
                    state = _with_stall(state, _decode_json(row[3]))
                    # A composite's parts, from its aggregate (also once it has ended).
                    doc = _decode_json(row[5]) if with_progress else None
                    if doc is not None and isinstance(doc.get("parts"), list):
                        state = replace(state, parts=doc["parts"])
                    if row[2] is None and state.state is State.RUNNING and not state.on_parts:
                        state = replace(state, leased=False)
                    out[job_id] = state
            await self._check_part_leases(out)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc
        return out

    async def _check_part_leases(self, states: dict[str, JobState]) -> None:
        """Mark composites with a running part whose lease is gone (one MGET, if any)."""
        running = [
            (job_id, index, str(part.get("job_id")))
            for job_id, state in states.items()
            if state.on_parts and state.parts
            for index, part in enumerate(state.parts, start=1)
            if part.get("state") == "running"
        ]
        if not running:
            return
        leases = await self.client.mget([lease_key(part_id) for _, _, part_id in running])
        for (job_id, index, _), lease in zip(running, leases, strict=True):
            if lease is None and states[job_id].lost_part is None:
                states[job_id] = replace(states[job_id], leased=False, lost_part=index)

    async def running(self, limit: int = BATCH) -> list[str]:
        """The oldest ``limit`` jobs of the running set (started by a worker, not ended)."""
        try:
            found: list[Any] = await self.client.zrange(RUNNING_KEY, 0, limit - 1)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc
        return [text(raw) or "" for raw in found]

    async def unlist(self, *job_ids: str) -> None:
        """Take jobs out of the running set (they ended, or their state is gone)."""
        if job_ids:
            try:
                await self.client.zrem(RUNNING_KEY, *job_ids)
            except (RedisError, OSError) as exc:
                raise StoreUnavailable(str(exc)) from exc

    async def revoke_if_pending(self, job_id: str) -> bool:
        """Record a not-yet-started job as cancelled, so a worker that gets it later skips it."""
        return await self._end_if_pending(
            job_id, "REVOKED", "TaskRevokedError", "cancelled before it started"
        )

    async def fail_if_pending(self, job_id: str, exc_type: str, message: str) -> bool:
        """Record a job that could not be started as failed (``exc_type``: its error's type)."""
        return await self._end_if_pending(job_id, "FAILURE", exc_type, message)

    async def _end_if_pending(self, job_id: str, status: str, exc_type: str, message: str) -> bool:
        """Store an end state only if the job has stored no state yet (atomic: SET NX)."""
        payload = celery_meta(job_id, status, exc_type, message)
        try:
            return bool(await self.client.set(meta_key(job_id), payload, ex=ttl(), nx=True))
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def settle_lost(self, job_id: str, *, requeue: bool) -> bool:
        """End (or, with acks-late, mark for re-delivery) a running job whose lease is gone.

        Atomic: nothing happens if the job stored another state or a worker holds its lease.
        """
        if requeue:
            payload = celery_meta(
                job_id,
                "RETRY",
                "WorkerLostError",
                "the worker running the job died; it will run again",
            )
        else:
            payload = celery_meta(
                job_id, "FAILURE", "WorkerLostError", "the worker running the job died"
            )
        keys = [meta_key(job_id), lease_key(job_id), seq_key(job_id)]
        return await self._script(_SETTLE_LOST, keys, [payload, ttl(), "1" if requeue else "0"])

    async def mark_stalled(self, state: JobState, since: str) -> JobState | None:
        """Record that a running job has been silent since ``since`` (its last progress);
        returns its stalled state, or None if it moved on or another gateway marked it."""
        ts = now_ts()
        head = dumps({"since": since, "ts": ts})[:-1] + ',"seq":'
        keys = [meta_key(state.job_id), seq_key(state.job_id), stalled_key(state.job_id)]
        seq = int(await self.eval(_MARK_STALLED, keys, [state.seq, head, ttl()]))
        if seq == 0:
            return None
        return _with_stall(state, {"seq": seq, "since": since, "ts": ts})

    async def _script(self, source: str, keys: list[Any], args: list[Any]) -> bool:
        return bool(await self.eval(source, keys, args))

    async def eval(self, source: str, keys: list[Any], args: list[Any]) -> Any:
        """Run a Lua script; raises :class:`StoreUnavailable`."""
        try:
            return await self.client.eval(source, len(keys), *keys, *args)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc


def ttl() -> int:
    return result_ttl()


def meta_key(job_id: str) -> Any:
    backend: Any = celery_app().backend
    return backend.get_key_for_task(job_id)


def queue_record(pipe: Any, record: JobRecord, params: JsonObject) -> None:
    """Queue the commands that write a job's record on ``pipe`` (a sync or async pipeline)."""
    key = record_key(record.job_id)
    fields = {"job": record.job, "owner": record.owner, "created": record.created}
    pipe.hset(key, mapping={**fields, "params": dumps(params)})
    pipe.expire(key, result_ttl())


def celery_meta(job_id: str, status: str, exc_type: str, message: str) -> Any:
    """A result-backend payload in Celery's own format, for states the gateway records."""
    backend: Any = celery_app().backend
    meta: JsonObject = {
        "status": status,
        "result": {
            "exc_type": exc_type,
            "exc_message": [message],
            "exc_module": "celery.exceptions",
        },
        "traceback": None,
        "children": [],
        "date_done": now_ts(),
        "task_id": job_id,
    }
    return backend.encode(meta)


def text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _decode_meta(backend: Any, payload: bytes | str | None) -> JsonObject | None:
    if payload is None:
        return None
    try:
        meta = backend.decode(payload)
    except Exception:
        logger.warning("undecodable result meta: %r", payload[:80])
        return None
    return meta if isinstance(meta, dict) else None


def _with_stall(state: JobState, stall: JsonObject | None) -> JobState:
    """The state as watchers see it: stalled while no later state was stored than the stall."""
    if stall is None or state.state is not State.RUNNING or state.on_parts:
        return state
    seq, since = stall.get("seq"), stall.get("since")
    if not isinstance(seq, int) or seq <= state.seq or not isinstance(since, str):
        return state
    return replace(state, seq=seq, ts=str(stall.get("ts") or state.ts), stalled_since=since)


def _decode_json(payload: bytes | str | None) -> JsonObject | None:
    if payload is None:
        return None
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
