"""The original article's job: a Celery task on Redis storing its progress with update_state.

``celery -A article_app worker``; its watchers loop ``while not result.ready(): sleep(0.1)``.
"""

from __future__ import annotations

import os
import time
from typing import Any, cast

from celery import Celery
from paced import paced_steps  # type: ignore[import-not-found]

app = Celery("article", broker=os.environ["PEER_REDIS_URL"], backend=os.environ["PEER_REDIS_URL"])


@app.task(bind=True, name="peer.article")
def article(
    self: Any, steps: int, interval: float, start_at: float, slot: int = 0, slots: int = 1
) -> int:
    reported = []
    for step in paced_steps(steps, interval, start_at, slot, slots):
        reported.append(time.time())
        meta = {"current": step, "total": steps, "reported": reported[-1]}
        self.update_state(state="PROGRESS", meta=meta)
    # For the bench: when each step was reported (a poller sees only some of them).
    cast(Any, app.backend).client.rpush(f"bench:reported:{self.request.id}", *reported)
    return steps
