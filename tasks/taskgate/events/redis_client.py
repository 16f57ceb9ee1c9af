"""The worker side's synchronous Redis client: one per process, made anew after a fork."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
import redis
from redis.exceptions import NoScriptError

from taskgate.config import get_config
from taskgate.config.celery_app import result_target

logger = logging.getLogger(__name__)

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


# What a run sent without waiting is told: the script's answer, or the error it ended with.
OnAnswer = Callable[[Any], object]


@dataclass(slots=True)
class _Sent:
    keys: Sequence[str | bytes]
    args: Sequence[str | int | bytes]
    on_answer: OnAnswer


class ScriptRunner:
    """One Lua script run on a connection of its own, in this process (made anew after a
    fork), taken from :func:`result_redis`'s pool so it connects as that client does (TLS,
    password, Sentinel's master).

    The progress path runs the store script once per report; through the client each run
    also passes the pool, the retry wrapper and the command hooks: after 50 ms idle on this
    2-core machine the store call took 0.60 ms through the client and 0.37 ms on a
    connection of its own (docs/benchmarks.md, round 3). Runs are serialised by a lock (a
    coalescing timer and the job's thread may both store).

    :meth:`send` does not wait for the answer: it is read after the next run is sent (or by
    :meth:`wait`), by when it has long arrived. A process that waits for it is woken by
    Redis in the same instant as the gateway the script published to, and on two cores the
    two then take turns (docs/benchmarks.md, round 4). Runs reach Redis in the order they
    were sent, on the one connection, whether their answers are read or not.
    """

    def __init__(self, source: str) -> None:
        self._source = source
        self._sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self._lock = threading.Lock()
        self._connection: Any = None  # a redis-py Connection (its methods are untyped)
        self._pid: int | None = None
        self._unread: deque[_Sent] = deque()  # sent on the connection, answers not read

    def __call__(self, keys: Sequence[str | bytes], args: Sequence[str | int | bytes]) -> Any:
        """Run and return the answer: EVALSHA (EVAL when Redis lost the script); one retry
        on a new connection when the connection was lost, as the client would."""
        with self._lock:
            self._read(leave=0)
            return self._run(keys, args)

    def send(
        self,
        keys: Sequence[str | bytes],
        args: Sequence[str | int | bytes],
        on_answer: OnAnswer,
    ) -> None:
        """Run without waiting: ``on_answer`` gets the answer (or the run's error) when it is
        read. A connection lost before it was read runs it again on a new one, as
        :meth:`__call__` would; a script Redis forgot is sent again with EVAL."""
        with self._lock:
            connection = self._connected()
            self._unread.append(_Sent(keys, args, on_answer))
            try:
                # No health check: its PING would be answered after the unread answers.
                command = _packed(b"EVALSHA", self._sha, keys, args)
                connection.send_packed_command(command, check_health=False)
            except (redis.ConnectionError, redis.TimeoutError):
                self._run_again()
                return
            self._read(leave=1)  # the earlier answers: after the send, not before it

    def wait(self) -> None:
        """Read the answer of every run sent so far (each is stored or refused by then)."""
        with self._lock:
            self._read(leave=0)

    def connect(self) -> None:
        """Open this process's connection now (it is opened at the first run otherwise)."""
        with self._lock:
            self._connected()

    def _run(self, keys: Sequence[str | bytes], args: Sequence[str | int | bytes]) -> Any:
        for attempt in (1, 2):
            connection = self._connected()
            try:
                try:
                    connection.send_packed_command(_packed(b"EVALSHA", self._sha, keys, args))
                    return connection.read_response()
                except NoScriptError:
                    connection.send_packed_command(_packed(b"EVAL", self._source, keys, args))
                    return connection.read_response()
            except (redis.ConnectionError, redis.TimeoutError):
                self._drop()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _read(self, leave: int) -> None:
        """Read the answers of all unread runs but the last ``leave``, in the order sent."""
        forgotten: list[_Sent] = []
        while len(self._unread) > leave:
            sent = self._unread[0]
            try:
                answer: Any = self._connection.read_response()
            except NoScriptError:
                # Redis lost its scripts (SCRIPT FLUSH): every run sent after this one was
                # refused too. Once all their answers are read, they run again, in order.
                self._unread.popleft()
                forgotten.append(sent)
                leave = 0
                continue
            except (redis.ConnectionError, redis.TimeoutError):
                self._unread.extendleft(reversed(forgotten))
                self._run_again()
                return
            except redis.ResponseError as exc:
                answer = exc
            self._unread.popleft()
            _tell(sent, answer)
        for sent in forgotten:
            _tell(sent, self._answer_of(sent))

    def _run_again(self) -> None:
        """The connection failed with runs whose answers were not read: each runs again on
        a new connection (at least once, as a lost answer is retried by :meth:`__call__`)."""
        again = list(self._unread)
        self._unread.clear()
        self._drop()
        for sent in again:
            _tell(sent, self._answer_of(sent))

    def _answer_of(self, sent: _Sent) -> Any:
        try:
            return self._run(sent.keys, sent.args)
        except redis.RedisError as exc:
            return exc

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
        self._connection = None

    def _connected(self) -> Any:
        if self._connection is None or self._pid != os.getpid():
            self._unread.clear()  # another process's (before a fork), or answered already
            connection: Any = result_redis().connection_pool.make_connection()
            # Connected here, as the pool does: a command on a new connection would connect
            # it to its default address, not to the one Sentinel names.
            connection.connect()
            self._connection, self._pid = connection, os.getpid()
        return self._connection


def _packed(
    command: bytes, script: str, keys: Sequence[str | bytes], args: Sequence[str | int | bytes]
) -> list[bytes]:
    """A run as Redis reads it, packed by hiredis itself: redis-py's packer around it took as
    long again after idle (a generator over the arguments, a check for spaces in the first)."""
    parts: Any = (command, script, len(keys), *keys, *args)  # its stub types a 1-tuple
    return [hiredis.pack_command(parts)]


def _tell(sent: _Sent, answer: Any) -> None:
    try:
        sent.on_answer(answer)
    except Exception:  # what is told is logged or marked; it must not stop the next one
        logger.exception("a stored run's answer could not be handled")
