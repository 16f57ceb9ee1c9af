"""``bench.ticker``: a registered job that reports progress every ``interval`` seconds.

It waits until ``start_at`` (unix time) and its phase first, so every watcher is on its
socket before the first report, jobs report spread over the interval rather than all at
once, and every variant of a scenario runs the same steps at the same pace.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bench.peer_apps.paced import paced_steps
from taskgate.worker.progress import report_progress
from taskgate.worker.registry import job


class TickerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(50, ge=1, le=100_000)
    interval: float = Field(0.1, ge=0, le=60)
    start_at: float = Field(0.0, description="Unix time of the first step (0: at once).")
    slot: int = Field(0, ge=0, description="This job's place among the jobs run together.")
    slots: int = Field(1, ge=1, description="How many jobs run together.")


@job("bench.ticker", params=TickerParams, description="Benchmark job.", time_limit=3600)
def ticker(params: TickerParams) -> int:
    pace = paced_steps(params.steps, params.interval, params.start_at, params.slot, params.slots)
    for step in pace:
        report_progress(step, params.steps)
    return params.steps
