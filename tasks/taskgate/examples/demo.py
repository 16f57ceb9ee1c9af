"""Demo jobs: ``demo.echo`` (the original article's job) and ``demo.fail``."""

from __future__ import annotations

import math
import time

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from taskgate.worker.progress import report_progress
from taskgate.worker.registry import job

STEP_SECONDS = 0.25


class EchoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    task_id: StrictInt | StrictStr = Field(description="Returned as the job's result.")
    seconds: float = Field(3.0, ge=0, le=600, description="How long the job runs.")


@job(
    "demo.echo",
    params=EchoParams,
    description="Runs for `seconds`, reporting progress every step, and returns `task_id`.",
    time_limit=660,
    soft_time_limit=630,
)
def echo(params: EchoParams) -> int | str:
    steps = max(1, math.ceil(params.seconds / STEP_SECONDS))
    for step in range(1, steps + 1):
        time.sleep(params.seconds / steps)  # stands in for real work
        report_progress(step, steps, f"step {step} of {steps}")
    return params.task_id


class DemoFailure(Exception):
    """Raised by ``demo.fail`` on purpose."""


class FailParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    steps: int = Field(3, ge=1, le=100, description="Steps done before failing.")
    seconds_per_step: float = Field(0.2, ge=0, le=60, description="Duration of one step.")
    message: str = Field("demo.fail failed on purpose", max_length=500, description="The error.")


@job(
    "demo.fail",
    params=FailParams,
    description="Does a few steps of work, reporting progress, then fails with a clear error.",
    time_limit=1200,
)
def fail(params: FailParams) -> None:
    total = params.steps + 1
    for step in range(1, params.steps + 1):
        time.sleep(params.seconds_per_step)  # stands in for real work
        report_progress(step, total, f"step {step} of {total}")
    raise DemoFailure(params.message)


class FloodParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    updates: int = Field(100_000, ge=1, le=1_000_000, description="progress calls to make")
    message_bytes: int = Field(0, ge=0, le=32_768, description="padding of each message")


@job(
    "demo.flood",
    params=FloodParams,
    description="Calls report_progress `updates` times as fast as it can (coalescing demo).",
    time_limit=600,
)
def flood(params: FloodParams) -> int:
    padding = "x" * params.message_bytes
    for done in range(1, params.updates + 1):
        report_progress(done, params.updates, f"{done}{padding}")
    return params.updates


class PauseParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    before: int = Field(5, ge=1, le=100, description="Steps reported before the pause.")
    pause: float = Field(45.0, ge=0, le=600, description="Seconds without any progress.")
    after: int = Field(5, ge=1, le=100, description="Steps reported after it.")
    step: float = Field(0.2, ge=0, le=10, description="Seconds per step.")


@job(
    "demo.pause",
    params=PauseParams,
    description=(
        "Reports a few steps, then nothing for `pause` seconds (a lock wait, a slow remote "
        "call: the bar says it is stalled), then the rest."
    ),
    time_limit=1200,
)
def pause(params: PauseParams) -> int:
    total = params.before + params.after
    for done in range(1, total + 1):
        time.sleep(params.step)  # stands in for real work
        report_progress(done, total, f"step {done} of {total}", unit="steps")
        if done == params.before:
            time.sleep(params.pause)  # silent, but alive: its lease is renewed meanwhile
    return total
