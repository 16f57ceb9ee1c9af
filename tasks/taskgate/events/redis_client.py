"""The worker side's synchronous Redis client: one per process, made anew after a fork."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

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


class ScriptRunner:
    """One Lua script run on a connection of its own, in this process (made anew after a
    fork), taken from :func:`result_redis`'s pool so it connects as that client does (TLS,
    password, Sentinel's master).

    The progress path runs the store script once per report; through the client each run
    also passes the pool, the retry wrapper and the command hooks: after 50 ms idle on this
    2-core machine the store call took 0.60 ms through the client and 0.37 ms on a
    connection of its own (docs/benchmarks.md, round 3). Runs are serialised by a lock (a
    coalescing timer and the job's thread may both store).
    """

    def __init__(self, source: str) -> None:
        self._source = source
        self._sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self._lock = threading.Lock()
        self._connection: Any = None  # a redis-py Connection (its methods are untyped)
        self._pid: int | None = None

    def __call__(self, keys: Sequence[str | bytes], args: Sequence[str | int | bytes]) -> Any:
        """EVALSHA (EVAL when Redis lost the script); one retry on a new connection when
        the connection was lost, as the client would."""
        with self._lock:
            for attempt in (1, 2):
                connection = self._connected()
                try:
                    try:
                        connection.send_command("EVALSHA", self._sha, len(keys), *keys, *args)
                        return connection.read_response()
                    except NoScriptError:
                        connection.send_command("EVAL", self._source, len(keys), *keys, *args)
                        return connection.read_response()
                except (redis.ConnectionError, redis.TimeoutError):
                    connection.disconnect()
                    self._connection = None
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

    def connect(self) -> None:
        """Open this process's connection now (it is opened at the first run otherwise)."""
        with self._lock:
            self._connected()

    def _connected(self) -> Any:
        if self._connection is None or self._pid != os.getpid():
            connection: Any = result_redis().connection_pool.make_connection()
            # Connected here, as the pool does: a command on a new connection would connect
            # it to its default address, not to the one Sentinel names.
            connection.connect()
            self._connection, self._pid = connection, os.getpid()
        return self._connection
