"""The job state model shared by worker and gateway: states, events, Redis keys, timestamps.

A job's state lives in the Celery result backend (``celery-task-meta-<id>``). States that
taskgate stores itself (running, progress) carry ``seq`` and ``ts`` in their meta; the
counter ``taskgate:seq:<id>`` is bumped for every non-terminal event, and a terminal
event's ``seq`` is that counter plus one, so every path that learns of the end (push,
fallback poll, snapshot) gives it the same number.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

JsonObject = dict[str, Any]


class State(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({State.SUCCESS, State.FAILURE, State.CANCELLED})

# Celery's stored state names, to ours.
CELERY_STATES: dict[str, State] = {
    "PENDING": State.QUEUED,
    "RECEIVED": State.QUEUED,
    "STARTED": State.RUNNING,
    "PROGRESS": State.RUNNING,
    "RETRY": State.RETRYING,
    "SUCCESS": State.SUCCESS,
    "FAILURE": State.FAILURE,
    "REVOKED": State.CANCELLED,
    # Ours: a composite job whose parts run (see tasks/composite.py); no lease of its own.
    "PARTS": State.RUNNING,
}

# The event a state is announced with (a running job with progress announces "progress").
STATE_EVENTS: dict[State, str] = {
    State.QUEUED: "queued",
    State.RUNNING: "running",
    State.RETRYING: "retrying",
    State.SUCCESS: "success",
    State.FAILURE: "failure",
    State.CANCELLED: "cancelled",
}

# Exceptions that mean "the worker running the job died".
LOST_EXCEPTIONS = frozenset({"WorkerLostError"})


def group_name(job_id: str) -> str:
    """The channel-layer group a job's events are sent to."""
    return f"taskgate.job.{job_id}"


def seq_key(job_id: str) -> str:
    return f"taskgate:seq:{job_id}"


def progress_key(job_id: str) -> str:
    return f"taskgate:progress:{job_id}"


def parts_key(job_id: str) -> str:
    """A composite job's aggregate: its parts, their states and progress (JSON)."""
    return f"taskgate:parts:{job_id}"


def record_key(job_id: str) -> str:
    return f"taskgate:job:{job_id}"


def lease_key(job_id: str) -> str:
    """Held (and renewed) by the worker process running the job."""
    return f"taskgate:lease:{job_id}"


def now_ts() -> str:
    """ISO 8601 UTC with microseconds, as every event's ``ts``."""
    return format_ts(datetime.now(UTC))


def format_ts(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: object) -> str | None:
    """Normalise a stored timestamp (Celery's ``date_done``, or ours) to the event format."""
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, str):
        try:
            return format_ts(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def make_progress(current: float, total: float, message: str = "") -> JsonObject:
    """The ``progress`` object of the protocol: percent is clamped to 0..100."""
    percent = 0.0 if total <= 0 else max(0.0, min(100.0, current * 100.0 / total))
    return {
        "current": current,
        "total": total,
        "percent": round(percent, 2),
        "message": message,
    }


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


@dataclass(frozen=True, slots=True)
class JobState:
    """What the result backend says about one job, in protocol terms."""

    job_id: str
    state: State
    seq: int
    ts: str | None
    progress: JsonObject | None = None
    result: Any = None
    error: JsonObject | None = None
    worker: str | None = None
    retry_in: float | None = None
    leased: bool = True  # False: running, but no worker holds the job's lease any more
    parts: list[JsonObject] | None = None  # a composite job's parts, each with its state
    on_parts: bool = False  # a composite waiting on its parts: no lease of its own to check
    lost_part: int | None = None  # 1-based index of a running part whose lease is gone

    def event(self) -> JsonObject:
        """The event that announces this state to a watcher that has not seen it."""
        name = STATE_EVENTS[self.state]
        if self.state is State.RUNNING and self.progress is not None:
            name = "progress"
        event: JsonObject = {
            "event": name,
            "job_id": self.job_id,
            "seq": self.seq,
            "ts": self.ts or now_ts(),
        }
        if name == "progress":
            event["progress"] = self.progress
            if self.parts is not None:
                event["parts"] = self.parts
        elif self.state is State.RUNNING and self.worker:
            event["worker"] = self.worker
        elif self.state is State.RETRYING:
            event["error"] = self.error
            event["retry_in"] = self.retry_in
        elif self.state is State.SUCCESS:
            event["result"] = self.result
        elif self.state is State.FAILURE:
            event["error"] = self.error
        return event


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


def dumps(value: object) -> str:
    """Compact JSON for the wire; NaN and infinities are not JSON, so they are refused."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)


def encode_frame(value: object) -> bytes:
    """A wire frame as UTF-8 JSON: ``dumps`` compiled (orjson), one per event and process.

    NaN and infinities become ``null`` here instead of being refused: a frame is never
    dropped for a value a job put in its result. What orjson cannot encode (integers past
    64 bits, keys that are not strings) goes through ``dumps``.
    """
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        return dumps(value).encode()
