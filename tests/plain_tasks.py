"""Plain Celery tasks, as a team's project has them: no taskgate base, only report_progress.

Listed in the test stack's TASKGATE_JOB_MODULES so the worker imports them (a project's own
worker imports its tasks through its own app's autodiscovery).
"""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task

import taskgate


@shared_task(bind=True, name="tests.plain_export")
def plain_export(self: Any, rows: int, seconds: float = 0.0) -> dict[str, Any]:
    for done in range(1, rows + 1):
        time.sleep(seconds / rows)  # stands in for real work
        taskgate.report_progress(done, rows, f"{done} of {rows} rows")
    return {"rows": rows, "job": self.request.id}


@shared_task(name="tests.plain_unknown_total")
def plain_unknown_total(steps: int) -> int:
    for done in range(1, steps + 1):
        time.sleep(0.06)
        taskgate.report_progress(done, None, f"{done} so far")
    return steps
