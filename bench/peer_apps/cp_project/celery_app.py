"""The peer's Celery app: ``celery -A cp_project.celery_app worker``."""

from __future__ import annotations

import os
import time
from importlib import import_module
from typing import Any, cast

import django
from celery import Celery
from paced import paced_steps  # type: ignore[import-not-found]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cp_project.settings")
django.setup()

from celery_progress.backend import ProgressRecorder  # type: ignore[import-not-found]  # noqa: E402
from celery_progress.websockets.backend import (  # type: ignore[import-not-found]  # noqa: E402
    WebSocketProgressRecorder,
)

import_module("celery_progress.tasks")  # its end-state hooks, for both modes
import_module("celery_progress.websockets.tasks")

app = Celery("cp", broker=os.environ["PEER_REDIS_URL"], backend=os.environ["PEER_REDIS_URL"])
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
app.set_default()


def _run(recorder: Any, steps: int, interval: float, start_at: float, slot: int, slots: int) -> int:
    reported = []
    for step in paced_steps(steps, interval, start_at, slot, slots):
        reported.append(time.time())
        # celery-progress has no timestamp: the report time rides in the description.
        recorder.set_progress(step, steps, description=f"t={reported[-1]:.6f}")
    # For the bench: when each step was reported (a poller sees only some of them).
    cast(Any, app.backend).client.rpush(f"bench:reported:{recorder.task.request.id}", *reported)
    return steps


@app.task(bind=True, name="peer.cp_ws")
def cp_ws(
    self: Any, steps: int, interval: float, start_at: float, slot: int = 0, slots: int = 1
) -> int:
    return _run(WebSocketProgressRecorder(self), steps, interval, start_at, slot, slots)


@app.task(bind=True, name="peer.cp_http")
def cp_http(
    self: Any, steps: int, interval: float, start_at: float, slot: int = 0, slots: int = 1
) -> int:
    return _run(ProgressRecorder(self), steps, interval, start_at, slot, slots)
