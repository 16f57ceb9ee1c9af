"""One client socket's delivery state: what it watches, what it has seen, and its outbox.

Frames leave in the order they were queued. A job event for a socket with nothing queued is
written at once, in the caller's turn of the loop, when the socket can take it (``send_now``:
uvicorn's protocol, no task and no await per frame). Every other frame goes through one
bounded outbox and one writer task. The writer exists only while the outbox has frames: an
idle socket holds no task and no queue, which is most of what a watching socket costs (see
docs/benchmarks.md, "memory per socket"). Job events are filtered per watch: a watch sends its
first frame (``accepted`` or ``snapshot``) before any event, never an event whose ``seq`` is
not above the last one sent, and nothing after a terminal event. Push and fallback deliver
through the same filter, so duplicates from either path are dropped here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from taskgate.contract.states import STATE_EVENTS, State
from taskgate.contract.wire import JsonObject, encode_frame
from taskgate.counters import DROPPED
from taskgate.protocol.codes import CloseCode

logger = logging.getLogger(__name__)

TERMINAL_EVENTS = frozenset(STATE_EVENTS[state] for state in State if state.terminal)
MAX_PENDING = 256

Sender = Callable[[str], Coroutine[Any, Any, None]]
# Writes a UTF-8 text frame at once if the socket can take it; False: it cannot now.
SendNow = Callable[[bytes], bool]
# The ASGI scope extension under which the server offers a socket's SendNow
# (taskgate.serve.uvicorn_websocket).
SEND_NOW = "taskgate.send_now"
# (kind, job_id, payload, the watch an "activate" belongs to)
_Item = tuple[str, str, JsonObject, "WatchedJob | None"]
Closer = Callable[[int], Coroutine[Any, Any, None]]


@dataclass(slots=True)
class WatchedJob:
    """One job watched on one socket."""

    job_id: str
    after: int = -1
    active: bool = False
    done: bool = False
    last_seq: int = -1
    pending: list[JsonObject] = field(default_factory=list)
    cancel_ref: str | None = None


class Watcher:
    """Delivery for one socket. ``offer`` and ``reply`` never block; the writer sends."""

    def __init__(
        self,
        send: Sender,
        close: Closer,
        *,
        outbox_size: int,
        send_timeout: float,
        on_done: Callable[[str], None],
        send_now: SendNow | None = None,
    ) -> None:
        self._send = send
        self._send_now = send_now
        self._close = close
        self._send_timeout = send_timeout
        self._on_done = on_done
        # Made when a frame has to wait, dropped when the writer is done: an empty deque
        # alone is some 0.7 KiB, per socket.
        self._outbox: deque[_Item] | None = None
        self._outbox_size = outbox_size
        self._writer: asyncio.Task[None] | None = None
        self.watches: dict[str, WatchedJob] = {}
        self.closed = False
        self._stopped: asyncio.Future[None] | None = None
        self._is_stopped = False
        self._closing: asyncio.Task[None] | None = None

    async def wait_stopped(self) -> None:
        """Return once :meth:`stop` was called."""
        if self._is_stopped:
            return
        if self._stopped is None:
            self._stopped = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._stopped)

    async def stop(self) -> None:
        """Called once the socket is gone: stop the writer."""
        self.closed = True
        self._is_stopped = True
        writer, self._writer = self._writer, None
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        self._outbox = None
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    # --- producers -------------------------------------------------------------------
    def reply(self, payload: JsonObject) -> None:
        """Queue a frame that is not a job event (error, pong)."""
        self._put(("raw", "", payload, None))

    def begin(self, job_id: str, after: int | None = None) -> WatchedJob:
        """Start watching: events are held until :meth:`activate` sends the first frame."""
        watch = WatchedJob(job_id=job_id, after=-1 if after is None else after)
        self.watches[job_id] = watch
        return watch

    def activate(self, watch: WatchedJob, first: JsonObject) -> None:
        """Queue the watch's first frame (``accepted`` or ``snapshot``)."""
        self._put(("activate", watch.job_id, first, watch))

    def offer(self, job_id: str, event: JsonObject, frame: bytes | None = None) -> None:
        """A job event from push or fallback; dropped unless this socket needs it.

        ``frame`` is the event already encoded (the hub encodes it once for all watchers).
        """
        watch = self.watches.get(job_id)
        if watch is None or watch.done:
            return
        if watch.active and self._writer is None and not self._outbox and not self.closed:
            # Nothing queued before it: filter now, and write now if the socket has room.
            payload = self._admit(watch, event)
            if payload is None:
                return
            data = frame if payload is event and frame is not None else _encode(payload)
            if data is None or self._write_now(data):
                return  # written, or nothing to write (logged)
            self._put(("raw", job_id, payload, None))
            return
        self._put(("event", job_id, event, None))

    def shutdown(self, code: int = CloseCode.GOING_AWAY) -> None:
        """Close after the frames already queued (used on server shutdown)."""
        self._put(("close", "", {"code": code}, None), force=True)

    def _put(self, item: _Item, *, force: bool = False) -> None:
        if self.closed:
            return
        if self._outbox is None:
            self._outbox = deque()
        if len(self._outbox) >= self._outbox_size:
            if force:
                self._abort(int(item[2].get("code", CloseCode.GOING_AWAY)))
            else:
                logger.warning(
                    "socket outbox full (%d frames): closing a slow reader", self._outbox_size
                )
                DROPPED.labels("outbox_full").inc()
                self._abort(CloseCode.SLOW_CONSUMER)
            return
        self._outbox.append(item)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def _abort(self, code: int) -> None:
        self.closed = True
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self._outbox = None
        self._closing = asyncio.get_running_loop().create_task(self._close(code))

    # --- the writer ------------------------------------------------------------------
    async def _write_loop(self) -> None:
        try:
            while not self.closed and self._outbox:
                await self._write_one(*self._outbox.popleft())
        finally:
            # No await between the emptiness check and this: a frame queued meanwhile
            # would otherwise find a writer that is about to end.
            if self._writer is asyncio.current_task():
                self._writer = None
                if not self._outbox:
                    self._outbox = None

    async def _write_one(
        self, kind: str, job_id: str, payload: JsonObject, owner: WatchedJob | None
    ) -> None:
        if kind == "raw":
            await self._write(payload)
        elif kind == "activate" and owner is not None:
            await self._activate(owner, payload)
        elif kind == "event":
            watch = self.watches.get(job_id)
            if watch is None or watch.done:
                return
            if not watch.active:
                if len(watch.pending) >= MAX_PENDING:
                    watch.pending.pop(0)
                watch.pending.append(payload)
                return
            await self._deliver(watch, payload)
        elif kind == "close":
            self.closed = True
            await self._close(int(payload["code"]))

    async def _activate(self, watch: WatchedJob, first: JsonObject) -> None:
        if self.watches.get(watch.job_id) is not watch or watch.active:
            return  # unwatched, or replaced by a newer watch, meanwhile
        watch.active = True
        seq = int(first.get("seq", 0))
        watch.last_seq = max(seq, watch.after)
        await self._write(first)
        if first.get("event") == "snapshot" and State(first["state"]).terminal:
            self._finish(watch)
            return
        pending, watch.pending = watch.pending, []
        for event in sorted(pending, key=lambda e: int(e.get("seq", 0))):
            if self.closed:
                return
            await self._deliver(watch, event)

    async def _deliver(self, watch: WatchedJob, event: JsonObject) -> None:
        payload = self._admit(watch, event)
        if payload is not None:
            await self._write(payload)

    def _admit(self, watch: WatchedJob, event: JsonObject) -> JsonObject | None:
        """The frame to send for ``event`` on this watch, or None if the watch has it."""
        seq = int(event.get("seq", 0))
        if watch.done or seq <= watch.last_seq:
            return None
        watch.last_seq = seq
        if event.get("event") in TERMINAL_EVENTS:
            if event.get("event") == "cancelled" and watch.cancel_ref is not None:
                event = {**event, "ref": watch.cancel_ref}
            self._finish(watch)
        return event

    def _finish(self, watch: WatchedJob) -> None:
        watch.done = True
        self.watches.pop(watch.job_id, None)
        self._on_done(watch.job_id)

    def _write_now(self, data: bytes) -> bool:
        """Write the frame at once if the socket can take it (True), else leave it."""
        if self._send_now is None:
            return False
        try:
            return self._send_now(data)
        except Exception:  # one broken socket must not stop delivery to the others
            logger.exception("writing a frame failed; trying the ASGI send")
            return False

    async def _write(self, payload: JsonObject) -> None:
        data = _encode(payload)
        if data is None or self._write_now(data):
            return
        try:
            async with asyncio.timeout(self._send_timeout):
                await self._send(data.decode())
        except TimeoutError:
            logger.warning("client did not read for %.1fs: closing it", self._send_timeout)
            DROPPED.labels("send_timeout").inc()
            self.closed = True
            await self._close(CloseCode.SLOW_CONSUMER)
        except OSError as exc:
            # The client went away while we wrote (uvicorn's ClientDisconnected is an
            # OSError): not an error of ours; nothing more goes to it.
            logger.debug("client gone while writing: %r", exc)
            self.closed = True


def _encode(payload: JsonObject) -> bytes | None:
    try:
        return encode_frame(payload)
    except ValueError:
        logger.exception("unserialisable frame for job %s", payload.get("job_id"))
        return None
