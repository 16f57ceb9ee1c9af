"""A peer's synthetic worker for the latency-against-load curve: its own progress path,
paced at ``--rate`` events/s over the given jobs, in the peer's venv.

- ``cp_ws``: celery-progress's ``WebSocketProgressRecorder.set_progress`` (store + push)
- ``cp_http``: its ``ProgressRecorder.set_progress`` (store; watchers poll its view)
- ``article``: ``update_state`` (store; watchers poll the result)

Each job's report times go to ``bench:reported:<id>`` at the end (pollers see only some).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from importlib import import_module
from pathlib import Path
from types import SimpleNamespace
from typing import Any


class _Task:
    """What the recorders use of a bound task: its id and ``update_state``."""

    def __init__(self, app: Any, job_id: str) -> None:
        self.app = app
        self.request = SimpleNamespace(id=job_id)

    def update_state(self, state: str, meta: dict[str, Any]) -> None:
        self.app.backend.store_result(self.request.id, meta, state)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("cp_ws", "cp_http", "article"), required=True)
    parser.add_argument("--jobs-file", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    job_ids = Path(args.jobs_file).read_text().split()
    if args.mode == "article":
        app = import_module("article_app").app
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cp_project.settings")
        app = import_module("cp_project.celery_app").app
        backend = import_module("celery_progress.backend")
        ws = import_module("celery_progress.websockets.backend")
        kind = ws.WebSocketProgressRecorder if args.mode == "cp_ws" else backend.ProgressRecorder
        recorders = {job_id: kind(_Task(app, job_id)) for job_id in job_ids}
    tasks = {job_id: _Task(app, job_id) for job_id in job_ids}
    reported: dict[str, list[float]] = {job_id: [] for job_id in job_ids}
    count = max(1, int(args.rate * args.duration))
    time.sleep(max(0.0, args.start_at - time.time()))
    began = time.monotonic()
    for index in range(count):
        delay = began + index / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the bench's pacing
        job_id = job_ids[index % len(job_ids)]
        step = index // len(job_ids) + 1
        now = time.time()
        reported[job_id].append(now)
        if args.mode == "article":
            meta = {"current": step, "total": count, "reported": now}
            tasks[job_id].update_state("PROGRESS", meta)
        else:
            recorders[job_id].set_progress(step, count, description=f"t={now:.6f}")
    seconds = time.monotonic() - began
    client = app.backend.client
    for job_id, times in reported.items():
        if times:
            client.rpush(f"bench:reported:{job_id}", *times)
    Path(args.out).write_text(json.dumps({"events": count, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
