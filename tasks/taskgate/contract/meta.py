"""Reading the result backend's stored meta (``celery-task-meta-<id>``) as a :class:`JobState`."""

from __future__ import annotations

from taskgate.contract.states import (
    CELERY_STATES,
    LOST_EXCEPTIONS,
    JobState,
    State,
)
from taskgate.contract.wire import (
    JsonObject,
    parse_ts,
)


def error_from_exception_meta(meta: object) -> JsonObject:
    """The protocol's ``error`` object from Celery's serialised exception."""
    if isinstance(meta, dict) and "exc_type" in meta:
        exc_type = str(meta.get("exc_type") or "Error")
        raw = meta.get("exc_message")
        if isinstance(raw, list | tuple):
            message = " ".join(str(part) for part in raw)
        else:
            message = "" if raw is None else str(raw)
        error: JsonObject = {"type": exc_type, "message": message}
        if exc_type in LOST_EXCEPTIONS:
            error = {"type": "lost", "message": message or "the worker running the job died"}
        if isinstance(meta.get("part"), str):
            error["part"] = meta["part"]  # the part of a composite job that failed
        return error
    return {"type": "Error", "message": "" if meta is None else str(meta)}


def decode_counter(raw: bytes | str | None) -> int:
    if raw is None:
        return 0
    try:
        return int(raw)
    except ValueError:
        return 0


def state_from_meta(
    job_id: str, meta: JsonObject | None, counter: int, last_progress: JsonObject | None = None
) -> JobState:
    """Turn a decoded ``celery-task-meta`` payload (or its absence) into a :class:`JobState`.

    ``counter`` is the value of the job's seq counter read together with the meta.
    """
    if meta is None:
        return JobState(job_id, State.QUEUED, counter, None)
    status = str(meta.get("status", "PENDING"))
    state = CELERY_STATES.get(status, State.RUNNING)
    result = meta.get("result")
    ts = parse_ts(meta.get("date_done"))
    if state.terminal:
        seq = counter + 1
        if state is State.SUCCESS:
            return JobState(job_id, state, seq, ts, last_progress, result=result)
        if state is State.FAILURE:
            return JobState(
                job_id, state, seq, ts, last_progress, error=error_from_exception_meta(result)
            )
        return JobState(job_id, state, seq, ts, last_progress)
    if state is State.RETRYING:
        return JobState(
            job_id, state, counter, ts, last_progress, error=error_from_exception_meta(result)
        )
    if state is State.RUNNING and isinstance(result, dict) and "seq" in result:
        progress = result.get("progress")
        parts = result.get("parts")
        return JobState(
            job_id,
            state,
            int(result["seq"]),
            parse_ts(result.get("ts")),
            progress if isinstance(progress, dict) else None,
            worker=result.get("worker"),
            parts=parts if isinstance(parts, list) else None,
            on_parts=status == "PARTS",
        )
    if state is State.QUEUED:
        return JobState(job_id, state, counter, None)
    return JobState(job_id, state, counter, ts, last_progress)
