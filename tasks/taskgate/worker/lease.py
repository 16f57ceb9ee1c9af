"""Job leases: how the gateway tells a running job from one whose worker died.

While a job runs, its worker process holds ``taskgate:lease:<job_id>`` with a TTL of
``TASKGATE_LEASE_SECONDS`` and renews it from a heartbeat thread every third of that (the
first wait drawn at random, so the pool processes of a worker that started many jobs at once
do not all renew in the same millisecond every time, holding up each other's progress). The
process stops renewing the lease after the job (``task_postrun``) and lets it expire; it never
deletes it. (Deleting raced the end of a job terminated by a cancel: the pool process ran
``task_postrun`` before the worker's main process stored ``REVOKED``, and for that moment the
job looked running with no lease.) So a job that is running in the backend but has no
lease belongs to a worker that stopped renewing for a whole TTL: it is gone, and the gateway
settles the job as ``failure`` with ``error.type == "lost"`` (or re-queues it, with
acks-late). A process killed with SIGKILL simply stops renewing.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading

from redis.exceptions import RedisError

from taskgate.config import get_config
from taskgate.contract.keys import lease_key
from taskgate.events.redis_client import result_redis

logger = logging.getLogger(__name__)


class LeaseKeeper:
    """Holds the leases of the jobs running in this process (fork-safe)."""

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._wake = threading.Event()

    @property
    def ttl(self) -> float:
        return get_config().lease_seconds

    def hold(self, job_id: str) -> None:
        with self._lock:
            self._held.add(job_id)
            self._ensure_thread()
        self._renew([job_id])

    def release(self, job_id: str) -> None:
        """Stop renewing the job's lease; it expires within a TTL (see the module doc)."""
        with self._lock:
            self._held.discard(job_id)

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._wake = threading.Event()
            threading.Thread(target=self._heartbeat, name="taskgate-lease", daemon=True).start()

    def _heartbeat(self) -> None:
        # A heartbeat, not a poll: it only says "this process is alive".
        # The first wait is drawn at random, then every third of the TTL: the processes of a
        # worker that started many jobs at once renew at different moments, as often as ever.
        wait = self.ttl / 3 * random.uniform(0.5, 1.0)  # noqa: S311
        while not self._wake.wait(wait):
            wait = self.ttl / 3
            with self._lock:
                held = list(self._held)
            if held:
                self._renew(held)

    def _renew(self, job_ids: list[str]) -> None:
        holder = f"{socket.gethostname()}:{os.getpid()}"
        ttl_ms = int(self.ttl * 1000)
        try:
            pipe = result_redis().pipeline(transaction=False)
            for job_id in job_ids:
                pipe.set(lease_key(job_id), holder, px=ttl_ms)
            pipe.execute()
        except RedisError as exc:
            logger.warning("could not renew %d job leases: %r", len(job_ids), exc)


leases = LeaseKeeper()
