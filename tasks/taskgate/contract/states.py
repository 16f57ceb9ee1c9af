"""The job state model shared by worker and gateway: states, the events that announce them.

A job's state lives in the Celery result backend (``celery-task-meta-<id>``). States that
taskgate stores itself (running, progress) carry ``seq`` and ``ts`` in their meta; the
counter ``taskgate:seq:<id>`` is bumped for every non-terminal event, and a terminal
event's ``seq`` is that counter plus one, so every path that learns of the end (push,
fallback poll, snapshot) gives it the same number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from taskgate.contract.wire import (
    JsonObject,
    now_ts,
)


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


# Announces a running job that stopped reporting progress (its next progress ends it).
STALLED_EVENT = "stalled"


# Exceptions that mean "the worker running the job died".
LOST_EXCEPTIONS = frozenset({"WorkerLostError"})


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
    # Running, leased, but silent: the time of its last progress (the gateway's stall check).
    stalled_since: str | None = None

    def event(self) -> JsonObject:
        """The event that announces this state to a watcher that has not seen it."""
        name = STATE_EVENTS[self.state]
        if self.state is State.RUNNING and self.progress is not None:
            name = "progress"
        if self.state is State.RUNNING and self.stalled_since is not None:
            name = STALLED_EVENT
        event: JsonObject = {
            "event": name,
            "job_id": self.job_id,
            "seq": self.seq,
            "ts": self.ts or now_ts(),
        }
        if name == STALLED_EVENT:
            event["stalled_since"] = self.stalled_since
            event["progress"] = self.progress
        elif name == "progress":
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
