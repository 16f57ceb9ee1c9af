"""The worker side's synchronous Redis client: one per process, made anew after a fork."""

from __future__ import annotations

import os
import threading

import redis

from taskgate.config import get_config
from taskgate.config.celery_app import result_target

_lock = threading.Lock()
_client: redis.Redis | None = None
_pid: int | None = None


def result_redis() -> redis.Redis:
    """A client for the result backend's Redis (where seq counters and leases live)."""
    global _client, _pid
    with _lock:
        if _client is None or _pid != os.getpid():
            _pid = os.getpid()
            _client = result_target().sync_client(
                socket_connect_timeout=get_config().redis_connect_timeout,
                socket_timeout=10.0,
            )
        return _client
