"""What a socket may do with jobs: submit, watch, unwatch, cancel. Shared by both endpoints.

Each operation checks the request, talks to Redis and the broker without blocking the event
loop, and either queues its answer on the socket's :class:`Connection` or raises a
:class:`ProtocolError`.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from pydantic import ValidationError

from gateway.connection import Connection
from gateway.dispatch import DispatchError, revoke, send_job
from gateway.identity import Principal
from gateway.jobstore import JobRecord, StoreUnavailable
from gateway.lost import settle_if_lost
from gateway.protocol import ErrorCode, ProtocolError, validation_details
from gateway.runtime import Runtime
from tasks.registry import get_job
from tasks.state import JsonObject, dumps, now_ts

logger = logging.getLogger(__name__)


def _unavailable(what: str) -> ProtocolError:
    return ProtocolError(ErrorCode.UNAVAILABLE, f"{what}: the job was not dispatched; try again")


class JobService:
    """The operations of one socket."""

    def __init__(self, runtime: Runtime, connection: Connection, principal: Principal) -> None:
        self.runtime = runtime
        self.connection = connection
        self.principal = principal

    def _check_watch_limit(self, job_id: str | None = None) -> None:
        limit = int(settings.TASKGATE_MAX_WATCHES_PER_SOCKET)
        watches = self.connection.watches
        if job_id not in watches and len(watches) >= limit:
            raise ProtocolError(
                ErrorCode.LIMIT_EXCEEDED,
                f"this socket already watches {limit} jobs; unwatch some first",
                job_id=job_id,
            )

    async def submit(self, job_name: str, raw_params: JsonObject, ref: str | None) -> str:
        """Validate and dispatch a job, watching it on this socket. Returns the job id."""
        limit = int(settings.TASKGATE_MAX_PARAMS_BYTES)
        if len(dumps(raw_params)) > limit:
            raise ProtocolError(
                ErrorCode.INVALID_PARAMS,
                f"params are limited to {limit} bytes of JSON",
                details=[{"field": "params", "message": f"larger than {limit} bytes"}],
            )
        spec = get_job(job_name)
        if spec is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_JOB, f"no job named {job_name[:80]!r} is registered"
            )
        try:
            params = spec.validate(raw_params)
        except ValidationError as exc:
            raise ProtocolError(
                ErrorCode.INVALID_PARAMS,
                f"the parameters of {spec.name} are invalid",
                details=validation_details(exc.errors()),
            ) from None
        self._check_watch_limit()
        job_id = str(uuid.uuid4())
        store, hub = self.runtime.store, self.runtime.hub
        try:
            await store.create(job_id, spec.name, self.principal.owner, params)
        except StoreUnavailable:
            raise _unavailable("Redis is unreachable") from None
        # Subscribe before dispatching, so not even the first event can be missed.
        watch = self.connection.begin(job_id)
        await hub.add(job_id, self.connection)
        try:
            await send_job(spec, job_id, params)
        except DispatchError:
            self.connection.watches.pop(job_id, None)
            await hub.remove(job_id, self.connection)
            await store.forget(job_id)
            raise _unavailable("the broker is unreachable") from None
        logger.info(
            "job=%s state=accepted seq=0 name=%s owner=%s", job_id, spec.name, self.principal.owner
        )
        accepted = {
            "event": "accepted",
            "job_id": job_id,
            "seq": 0,
            "ts": now_ts(),
            "job": spec.name,
            "ref": ref,
        }
        self.connection.activate(watch, accepted)
        return job_id

    async def _owned_record(self, job_id: str) -> JobRecord:
        try:
            record = await self.runtime.store.record(job_id)
        except StoreUnavailable:
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id=job_id
            ) from None
        if record is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such job (or it expired)", job_id=job_id)
        if not self.principal.may_access(record.owner):
            raise ProtocolError(
                ErrorCode.FORBIDDEN, "this job belongs to someone else", job_id=job_id
            )
        return record

    async def watch(self, job_id: str, after: int | None, ref: str | None) -> None:
        """Subscribe, then read the state and send it as a snapshot, then live events."""
        record = await self._owned_record(job_id)
        self._check_watch_limit(job_id)
        store, hub = self.runtime.store, self.runtime.hub
        watch = self.connection.begin(job_id, after)
        await hub.add(job_id, self.connection)
        try:
            state = await settle_if_lost(store, hub, await store.state(job_id))
        except StoreUnavailable:
            self.connection.watches.pop(job_id, None)
            await hub.remove(job_id, self.connection)
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id=job_id
            ) from None
        snapshot: JsonObject = {
            "event": "snapshot",
            "job_id": job_id,
            "seq": state.seq,
            "ts": state.ts or record.created or now_ts(),
            "job": record.job,
            "state": state.state.value,
            "progress": state.progress,
            "result": state.result,
            "error": state.error,
            "ref": ref,
        }
        self.connection.activate(watch, snapshot)

    async def unwatch(self, job_id: str) -> None:
        if self.connection.watches.pop(job_id, None) is not None:
            await self.runtime.hub.remove(job_id, self.connection)

    async def cancel(self, job_id: str, ref: str | None) -> None:
        """Revoke the job; its watchers get ``cancelled`` (carrying this ``ref`` here)."""
        await self._owned_record(job_id)
        watch = self.connection.watches.get(job_id)
        if watch is not None:
            watch.cancel_ref = ref
        store = self.runtime.store
        try:
            await revoke(job_id)
        except DispatchError:
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, "the broker is unreachable", job_id=job_id
            ) from None
        try:
            if await store.revoke_if_pending(job_id):
                # Nobody else will announce it: a worker would only skip the job later.
                await self.runtime.hub.announce(
                    job_id, (await store.state(job_id)).event(), "cancel"
                )
        except StoreUnavailable:
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id=job_id
            ) from None
        logger.info("job=%s cancel requested owner=%s", job_id, self.principal.owner)
