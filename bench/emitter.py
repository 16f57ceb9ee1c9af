"""A synthetic worker: reports job states through the worker-side code path jobs use.

It stands in for a thousand pool processes. Each job gets what a real worker gives it: its
lease (``taskgate.worker.lease.leases``), ``store_and_emit(STARTED)``, progress events, and at
the end Celery's own ``store_result(SUCCESS)`` followed by ``emit_stored``, as the ``task_success``
signal does.

Progress goes one of two ways:

- ``--path publish`` (default): the push half of ``store_and_emit``, i.e. the same event
  handed to ``taskgate.events.publisher.publisher`` (its loop thread's batched ``PUBLISH``); the
  job's seq counter in Redis is brought up to date before the end. This is what the gateway sees.
- ``--path store``: ``ProgressReporter.report`` → ``store_and_emit``, which also stores
  every state in the result backend first (four Redis round trips per event: Celery's own
  ``store_result`` reads before it writes). On this 2-core machine one emitter process
  offers about 900 events/s that way: see docs/benchmarks.md.

    python -m bench.emitter --jobs-file F --rate 1000 --duration 30 --out summary.json
    python -m bench.emitter --jobs-file F --burst 10 --rate 5000 --out summary.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskgate.serve.settings")

from celery.app.task import Context

from taskgate.contract.keys import seq_key
from taskgate.contract.wire import make_progress, now_ts
from taskgate.events.emit import emit_stored, store_and_emit
from taskgate.events.publisher import publisher
from taskgate.events.redis_client import result_redis
from taskgate.serve.celery_app import app
from taskgate.worker.lease import leases
from taskgate.worker.progress import ProgressReporter


def _pace(start: float, index: int, rate: float) -> None:
    """Sleep until event ``index`` is due (the bench's pacing, not product code; rate 0:
    as fast as it goes)."""
    if rate <= 0:
        return
    due = start + index / rate
    delay = due - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _publish(job_id: str, seq: int, progress: dict[str, Any]) -> None:
    """The event ``store_and_emit`` pushes for a progress report, pushed the same way."""
    event = {"event": "progress", "job_id": job_id, "seq": seq, "ts": now_ts()}
    event["progress"] = progress
    publisher.publish(job_id, event)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs-file", required=True)
    parser.add_argument("--rate", type=float, required=True, help="progress events per second")
    parser.add_argument("--duration", type=float, default=0.0, help="steady mode: seconds")
    parser.add_argument("--burst", type=int, default=0, help="burst mode: events per job")
    parser.add_argument("--start-at", type=float, default=0.0, help="wall-clock start time")
    parser.add_argument("--path", choices=("publish", "store"), default="publish")
    parser.add_argument("--end-threads", type=int, default=2, help="jobs ending at once")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    job_ids = [line for line in Path(args.jobs_file).read_text().split() if line]
    app.loader.import_default_modules()  # registers the jobs and the signal handlers
    task: Any = app.tasks["demo.echo"]
    requests = {job_id: Context(id=job_id, hostname="bench-emitter@bench") for job_id in job_ids}
    for job_id, request in requests.items():
        leases.hold(job_id)
        store_and_emit(task, request, "STARTED")
    publisher.flush(30.0)
    reporters = {
        job_id: ProgressReporter(task, requests[job_id], min_interval=0.05) for job_id in job_ids
    }
    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.time()))

    total = args.burst - 1 if args.burst else int(args.rate * args.duration / max(1, len(job_ids)))
    count = max(1, total) * len(job_ids)
    began_wall = time.time()
    began = time.monotonic()
    cpu_began = time.process_time()
    for index in range(count):
        _pace(began, index, args.rate)
        job_id = job_ids[index % len(job_ids)]
        step = index // len(job_ids) + 1
        if args.path == "store":
            reporters[job_id].report(step, total + 1, f"step {step}")
        else:
            _publish(job_id, step + 1, make_progress(step, total + 1, f"step {step}"))
    progress_seconds = time.monotonic() - began
    for reporter in reporters.values():
        reporter.close()
    if args.path == "publish":
        # STARTED took seq 1, progress 2..total+1: the end must come after them.
        pipe = result_redis().pipeline(transaction=False)
        for job_id in job_ids:
            pipe.set(seq_key(job_id), max(1, total) + 1, ex=3600)
        pipe.execute()

    def end(job_id: str) -> None:
        """What the worker does when a job returns: store, push the end, drop the lease."""
        result = {"job": job_id}
        task.backend.store_result(job_id, result, "SUCCESS", request=requests[job_id])
        emit_stored(job_id, "success", terminal=True, result=result)
        leases.release(job_id)

    # Jobs end side by side, as in a worker with a pool of threads; each end waits for
    # Redis round trips (Celery's store, the seq), so one at a time would measure those waits.
    with ThreadPoolExecutor(max_workers=args.end_threads) as pool:
        list(pool.map(end, job_ids))
    publisher.flush(30.0)
    ended = time.monotonic()
    summary = {
        "progress": count,
        "terminal": len(job_ids),
        "started": began_wall,
        "seconds": ended - began,
        "progress_seconds": progress_seconds,
        "coalesced": sum(r.coalesced for r in reporters.values()),
        "cpu_seconds": time.process_time() - cpu_began,
    }
    Path(args.out).write_text(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
