"""Cluster-wide counters that worker processes add to and every gateway's ``/metrics`` reads.

Worker pool children have no HTTP endpoint to scrape, so the few signals they alone see
(progress reports coalesced away, pushes that failed) are added to Redis hashes with one
``HINCRBY`` per job or per failure, never per event. Best effort: a counter that cannot be
written is logged at DEBUG and lost, the job goes on.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from taskgate.contract.keys import STATS_KEY
from taskgate.events.redis_client import result_redis

logger = logging.getLogger(__name__)

COALESCED = "coalesced"
PUSH_FAILED = "push_failed"


def add(name: str, amount: int = 1) -> None:
    """Add ``amount`` to the counter ``name`` (no-op for 0)."""
    if amount <= 0:
        return
    try:
        result_redis().hincrby(STATS_KEY, name, amount)
    except (RedisError, OSError) as exc:
        logger.debug("could not add %d to %s: %r", amount, name, exc)
