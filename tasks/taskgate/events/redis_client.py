"""The worker side's synchronous Redis client: one per process, made anew after a fork."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
import redis

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
Arg = str | int | bytes


@dataclass(frozen=True, slots=True)
class Prepared:
    """The packed keys and first arguments that many runs share (a job's reports): a run
    adds its own last arguments (:meth:`ScriptRunner.send_prepared`)."""

    count: int  # the parts of the command after its name and script
    packed: bytes


@dataclass(slots=True)
class _Sent:
    count: int
    packed: bytes  # the run's keys and arguments, packed (without EVALSHA and the digest)
    on_answer: OnAnswer
    key: str | None = None  # a later run with the same key supersedes this one
    at: float = 0.0  # when it was sent (monotonic)


# Answers are read once more runs than this are unread (32 answers are some 200 bytes), or
# once the oldest unread was sent this many seconds ago: a script Redis forgot (SCRIPT FLUSH)
# refuses every run until an answer says so, and the runs refused are then sent again.
READ_AFTER = 32
READ_WITHIN = 1.0


class Superseded(Exception):
    """The run was not sent again: a later run with the same key was (its newer state)."""


class ScriptRunner:
    """One Lua script run on a connection of its own, in this process (made anew after a
    fork), connected by :func:`result_redis`'s pool so it connects as that client does (TLS,
    password, Sentinel's master), then written and read by this class itself: the command
    packed once (the parts a job's reports share, :meth:`prepare`, at its start), sent with
    one ``sendall`` and its answers parsed by hiredis. Through the client a run also passed
    the pool, the retry wrapper, the packer and the command hooks: after 50 ms idle on this
    2-core machine that was 0.60 ms against 0.37 through its connection (docs/benchmarks.md,
    round 3), and the connection's own packing and reading again more than this (round 5).
    Runs are serialised by a lock (a coalescing timer and the job's thread may both store).

    :meth:`send` does not wait for the answer: answers are read once more than
    :data:`READ_AFTER` runs are unread or the oldest unread is :data:`READ_WITHIN` seconds
    old (after that send, so the newest is not waited for), or by :meth:`wait`. A process
    that waits for an answer is woken by Redis in the same instant as the gateway the script
    published to, and on two cores the two then take turns (docs/benchmarks.md, round 4);
    reading the one before after each send was still work on the way of every push (round
    5). Runs reach Redis in the order they were sent, on the one connection, whether their
    answers are read or not; the script is loaded when the connection is made, so a run by
    its digest is not refused for a script not yet loaded.

    A run sent with a ``key`` is superseded by a later run with the same key (a job's newer
    progress): when the connection was lost before their answers were read, runs are sent
    again but only the newest of each key, and the others are told :class:`Superseded`.
    Runs refused because Redis forgot the script are all sent again (none of them ran).
    """

    def __init__(self, source: str) -> None:
        self._source = source
        self._sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self._by_digest = _bulks(b"EVALSHA", self._sha)
        self._by_source = _bulks(b"EVAL", source)
        self._lock = threading.Lock()
        self._connection: Any = None  # a redis-py Connection (its methods are untyped)
        self._sock: socket.socket | None = None
        self._reader = hiredis.Reader()
        self._pid: int | None = None
        self._unread: deque[_Sent] = deque()  # sent on the connection, answers not read

    def prepare(self, keys: Sequence[Arg], args: Sequence[Arg]) -> Prepared:
        """The shared head of runs with these ``keys`` and first ``args``."""
        return Prepared(1 + len(keys) + len(args), _bulks(len(keys), *keys, *args))

    def __call__(self, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """Run and return the answer: EVALSHA (EVAL when Redis lost the script); one retry
        on a new connection when the connection was lost, as the client would."""
        return self.run_prepared(self.prepare(keys, args), ())

    def run_prepared(self, prepared: Prepared, rest: Sequence[bytes]) -> Any:
        """:meth:`__call__`, for a run of ``prepared`` and its last arguments ``rest``."""
        sent = _Sent(prepared.count + len(rest), _packed(prepared, rest), _ignore)
        with self._lock:
            self._read(leave=0)
            answer = self._run(sent)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def send(
        self,
        keys: Sequence[Arg],
        args: Sequence[Arg],
        on_answer: OnAnswer,
        key: str | None = None,
    ) -> None:
        """Run without waiting: ``on_answer`` gets the answer (or the run's error) when it is
        read. A connection lost before it was read runs it again on a new one, as
        :meth:`__call__` would, unless a later run with the same ``key`` was sent; a script
        Redis forgot is sent again with EVAL (the same)."""
        self.send_prepared(self.prepare(keys, args), (), on_answer, key)

    def send_prepared(
        self,
        prepared: Prepared,
        rest: Sequence[bytes],
        on_answer: OnAnswer,
        key: str | None = None,
    ) -> None:
        """:meth:`send`, for a run of ``prepared`` and its last arguments ``rest``.

        The run is written first and its books (:class:`_Sent`, the time) made after: after
        100 ms idle each step on the way costs tens of microseconds (docs/benchmarks.md,
        round 6)."""
        count, packed = prepared.count + len(rest), _packed(prepared, rest)
        with self._lock:
            try:
                self._connected()
                self._write(count, packed, self._by_digest)
            except (OSError, redis.ConnectionError):
                self._unread.append(_Sent(count, packed, on_answer, key, time.monotonic()))
                self._run_again()
                return
            now = time.monotonic()
            self._unread.append(_Sent(count, packed, on_answer, key, now))
            if len(self._unread) > READ_AFTER or now - self._unread[0].at > READ_WITHIN:
                self._read(leave=1)  # the earlier answers: after the send, not before it

    def wait(self) -> None:
        """Read the answer of every run sent so far (each is stored or refused by then)."""
        with self._lock:
            self._read(leave=0)

    def connect(self) -> None:
        """Open this process's connection now (it is opened at the first run otherwise)."""
        with self._lock:
            self._connected()

    def _write(self, count: int, packed: bytes, name: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise ConnectionError("not connected")
        sock.sendall(b"*%d\r\n%b%b" % (count + 2, name, packed))

    def _answer(self) -> Any:
        """The next answer on the connection (a Redis error as ``redis.ResponseError``, or
        :class:`_NoScript`); raises OSError when the connection fails."""
        while (answer := self._reader.gets()) is False:
            sock = self._sock
            data = sock.recv(65536) if sock is not None else b""
            if not data:
                raise ConnectionError("Redis closed the connection")
            self._reader.feed(data)
        if isinstance(answer, hiredis.ReplyError):
            text = str(answer)
            if text.startswith("NOSCRIPT"):
                return _NoScript(text)
            # As redis-py words it: a script's own error_reply comes as "ERR <its text>".
            return redis.ResponseError(text.removeprefix("ERR "))
        return answer

    def _run(self, sent: _Sent) -> Any:
        """Send ``sent`` and wait for its answer (an error is returned); one retry on a new
        connection, then the connection error is raised."""
        for attempt in (1, 2):
            try:
                self._connected()
                self._write(sent.count, sent.packed, self._by_digest)
                answer = self._answer()
                if isinstance(answer, _NoScript):
                    self._write(sent.count, sent.packed, self._by_source)
                    answer = self._answer()
                return answer
            except OSError as exc:
                self._drop()
                if attempt == 2:
                    raise redis.ConnectionError(f"the store script's connection: {exc!r}") from exc
            except redis.ConnectionError:
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
                answer = self._answer()
            except OSError:
                self._unread.extendleft(reversed(forgotten))
                self._run_again()
                return
            self._unread.popleft()
            if isinstance(answer, _NoScript):
                # Redis lost its scripts (SCRIPT FLUSH): every run sent after this one was
                # refused too, none of them ran. Once all their answers are read, they run
                # again, in order, every one.
                forgotten.append(sent)
                leave = 0
                continue
            _tell(sent, answer)
        for sent in forgotten:
            _tell(sent, self._answer_of(sent))

    def _run_again(self) -> None:
        """The connection failed with runs whose answers were not read: each runs again on
        a new connection, waited for (at least once, as a lost answer is retried by
        :meth:`__call__`), but of the runs with one key only the last: the others may have
        run, and running them again would store older states after newer ones."""
        runs = list(self._unread)
        self._unread.clear()
        self._drop()
        last = {sent.key: sent for sent in runs if sent.key is not None}
        for sent in runs:
            if sent.key is not None and last[sent.key] is not sent:
                _tell(sent, Superseded(f"a later run of {sent.key} was sent again"))
            else:
                _tell(sent, self._answer_of(sent))

    def _answer_of(self, sent: _Sent) -> Any:
        try:
            return self._run(sent)
        except redis.RedisError as exc:
            return exc

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
        self._connection = self._sock = None
        self._reader = hiredis.Reader()

    def _connected(self) -> None:
        if self._connection is None or self._pid != os.getpid():
            self._unread.clear()  # another process's (before a fork), or answered already
            self._reader = hiredis.Reader()
            connection: Any = result_redis().connection_pool.make_connection()
            # Connected here, as the pool does: a command on a new connection would connect
            # it to its default address, not to the one Sentinel names.
            connection.connect()
            try:
                # Loaded first: runs by its digest are not read at once (READ_AFTER).
                connection.send_command("SCRIPT", "LOAD", self._source)
                connection.read_response()
            except BaseException:
                connection.disconnect()
                raise
            # Written and read here from now on: redis-py has read the handshake's answers.
            self._connection, self._sock, self._pid = connection, connection._sock, os.getpid()


class _NoScript(Exception):
    """Redis does not have the script (NOSCRIPT): it is sent again with EVAL."""


def _ignore(answer: Any) -> None:
    return None


def _packed(prepared: Prepared, rest: Sequence[bytes]) -> bytes:
    if not rest:
        return prepared.packed
    return prepared.packed + b"".join([b"$%d\r\n%b\r\n" % (len(part), part) for part in rest])


def _bulks(*parts: Arg) -> bytes:
    """``parts`` as RESP bulk strings (str as UTF-8, int in decimal), one after the other."""
    out = []
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


def _tell(sent: _Sent, answer: Any) -> None:
    try:
        sent.on_answer(answer)
    except Exception:  # what is told is logged or marked; it must not stop the next one
        logger.exception("a stored run's answer could not be handled")
