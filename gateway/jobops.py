"""Job operations shared by the sockets and the HTTP API: submit, snapshot, cancel.

Nothing here knows about a socket. Every refusal is a :class:`ProtocolError`, which the
socket sends as an ``error`` event and the HTTP API as a JSON body with the matching
status. Ownership is checked in :func:`gateway.records.owned_record` only.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from pydantic import ValidationError
from redis.exceptions import RedisError

from gateway import records
from gateway.dispatch import DispatchError, revoke, send_job
from gateway.identity import Principal
from gateway.jobstore import JobRecord, StoreUnavailable
from gateway.lost import settle_if_lost
from gateway.partstore import cancel_composite
from gateway.protocol import ErrorCode, ProtocolError, validation_details
from gateway.ratelimit import take_shared
from gateway.records import DatabaseUnavailable, owned_record
from gateway.runtime import get_runtime
from tasks.registry import JobSpec, get_job
from tasks.state import JsonObject, dumps, now_ts

logger = logging.getLogger(__name__)


def _unavailable(what: str, job_id: str | None = None) -> ProtocolError:
    return ProtocolError(
        ErrorCode.UNAVAILABLE, f"{what}: the job was not dispatched; try again", job_id=job_id
    )


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated job with its id, recorded but not yet dispatched."""

    spec: JobSpec[Any]
    job_id: str
    params: JsonObject

    def accepted(self, ref: str | None = None) -> JsonObject:
        return {
            "event": "accepted",
            "job_id": self.job_id,
            "seq": 0,
            "ts": now_ts(),
            "job": self.spec.name,
            "ref": ref,
        }


def validate(job_name: str, raw_params: JsonObject) -> tuple[JobSpec[Any], JsonObject]:
    """The job's spec and its normalised parameters, or ``unknown_job``/``invalid_params``."""
    limit = int(settings.TASKGATE_MAX_PARAMS_BYTES)
    if len(dumps(raw_params)) > limit:
        raise ProtocolError(
            ErrorCode.INVALID_PARAMS,
            f"params are limited to {limit} bytes of JSON",
            details=[{"field": "params", "message": f"larger than {limit} bytes"}],
        )
    spec = get_job(job_name)
    if spec is None:
        raise ProtocolError(ErrorCode.UNKNOWN_JOB, f"no job named {job_name[:80]!r} is registered")
    try:
        return spec, spec.validate(raw_params)
    except ValidationError as exc:
        raise ProtocolError(
            ErrorCode.INVALID_PARAMS,
            f"the parameters of {spec.name} are invalid",
            details=validation_details(exc.errors()),
        ) from None


async def admit(principal: Principal) -> None:
    """Draw from the principal's submit bucket (shared by every socket, request, process)."""
    try:
        wait = await take_shared(
            get_runtime().store.client,
            f"taskgate:rate:submit:{principal.owner}",
            float(settings.TASKGATE_PRINCIPAL_SUBMIT_RATE),
            int(settings.TASKGATE_PRINCIPAL_SUBMIT_BURST),
        )
    except (RedisError, OSError):
        raise _unavailable("Redis is unreachable") from None
    if wait > 0:
        raise ProtocolError(
            ErrorCode.RATE_LIMITED,
            "too many submits; wait before the next one",
            retry_after=round(wait, 3),
        )


async def record(principal: Principal, spec: JobSpec[Any], params: JsonObject) -> Submission:
    """Admit the submit and record the job (database, then Redis). Nothing is dispatched."""
    await admit(principal)
    submission = Submission(spec, str(uuid.uuid4()), params)
    try:
        await records.create(submission.job_id, spec.name, principal.owner, params)
    except DatabaseUnavailable:
        raise _unavailable("the database is unreachable") from None
    try:
        await get_runtime().store.create(submission.job_id, spec.name, principal.owner, params)
    except StoreUnavailable:
        await records.forget(submission.job_id)
        raise _unavailable("Redis is unreachable") from None
    return submission


async def dispatch(submission: Submission, principal: Principal) -> None:
    """Put the job on the broker; if that fails, forget its records and refuse."""
    try:
        await send_job(submission.spec, submission.job_id, submission.params)
    except DispatchError:
        await get_runtime().store.forget(submission.job_id)
        await records.forget(submission.job_id)
        raise _unavailable("the broker is unreachable") from None
    logger.info(
        "job=%s state=accepted seq=0 name=%s owner=%s",
        submission.job_id,
        submission.spec.name,
        principal.owner,
    )


async def snapshot(record: JobRecord, ref: str | None = None) -> JsonObject:
    """The ``snapshot`` event of a job whose record the caller may see.

    A job running on a worker that died is settled (as lost) before it is shown.
    """
    runtime = get_runtime()
    try:
        state = await settle_if_lost(
            runtime.store, runtime.hub, await runtime.store.state(record.job_id)
        )
    except StoreUnavailable:
        raise ProtocolError(
            ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id=record.job_id
        ) from None
    event: JsonObject = {
        "event": "snapshot",
        "job_id": record.job_id,
        "seq": state.seq,
        "ts": state.ts or record.created or now_ts(),
        "job": record.job,
        "state": state.state.value,
        "progress": state.progress,
        "result": state.result,
        "error": state.error,
        "parts": state.parts,
        "ref": ref,
    }
    return event


async def cancel(principal: Principal, job_id: str) -> JobRecord:
    """Revoke the job; its watchers get ``cancelled`` (owner or staff only)."""
    record = await owned_record(principal, job_id)
    runtime = get_runtime()
    try:
        # A composite job: its end is stored here, before its parts are revoked.
        outcome, parts = await cancel_composite(runtime.store, job_id)
        await revoke(job_id, *parts)
    except StoreUnavailable:
        raise ProtocolError(ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id=job_id) from None
    except DispatchError:
        raise ProtocolError(
            ErrorCode.UNAVAILABLE, "the broker is unreachable", job_id=job_id
        ) from None
    try:
        if outcome == "cancelled" or (
            outcome == "none" and await runtime.store.revoke_if_pending(job_id)
        ):
            # Nobody else will announce it: a worker would only skip the job later.
            event = (await runtime.store.state(job_id)).event()
            await records.finish(job_id, "cancelled")
            await runtime.hub.announce(job_id, event, "cancel")
    except StoreUnavailable:
        raise ProtocolError(ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id=job_id) from None
    except DatabaseUnavailable as exc:
        logger.warning("job=%s could not record the cancel in the database: %r", job_id, exc)
    logger.info("job=%s cancel requested owner=%s", job_id, principal.owner)
    return record
