"""The process-wide fan-out: one channel-layer subscription per watched job, shared by sockets.

Each gateway process has one channel in the layer. When the first local socket watches a job,
the hub adds that channel to the job's group; every event the worker sends to the group
arrives here once per process and is handed to each local watcher in memory. With a plain
pub/sub layer on one Redis the hub holds the subscriptions itself, on a connection of its own
(taskgate.delivery.subscriber), and reads them without the layer's reader task and queues;
with any other layer it joins groups and receives through the layer. The hub also
tracks whether the layer is reachable (failed joins, failed receives, and a round-trip
probe the fallback loop runs), so the fallback can speed up while pushes cannot arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from typing import Any, NamedTuple

from channels.layers import get_channel_layer

from taskgate.config import get_config, telemetry
from taskgate.contract.keys import group_name
from taskgate.contract.wire import JsonObject, encode_frame
from taskgate.counters import observe_delay
from taskgate.delivery.stream_caps import StreamCaps
from taskgate.delivery.subscriber import Subscriber
from taskgate.delivery.watcher import Watcher
from taskgate.events import stage_times
from taskgate.events.layer_pipeline import (
    Pushed,
    group_channel,
    layer_prefix,
    message_codec,
    plain_frame,
    plain_pubsub_address,
    pushed_event,
    pushed_frame,
)

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0
# Seconds the books of a delivery wait, so that the process sleeps first. On the 2-core VM a
# delivery's client was woken on the gateway's own core and ran only once the gateway's
# books were done: 0.05 ms of the light load's p50 (docs/benchmarks.md, round 5).
BOOKS_DELAY = 0.001


class _Entry(NamedTuple):
    """One delivery, for the books."""

    job_id: str
    event: JsonObject
    path: str
    arrived: float
    written: float
    new: bool  # the newest state of its job this process has handed on


class Hub:
    """Local watchers per job, and the layer subscription that feeds them."""

    def __init__(self) -> None:
        self.watchers: dict[str, set[Watcher]] = {}
        self.connections: set[Watcher] = set()
        self.caps = StreamCaps()  # open sockets and streams per principal and address
        self.delivered: Counter[str] = Counter()
        self.layer_ok = True
        self.layer_changed = asyncio.Event()
        self._layer: Any = get_channel_layer()
        self._subscriber = self._own_subscriber()
        self._channel: str | None = None
        self._joined: set[str] = set()
        self._probes: dict[str, asyncio.Future[None]] = {}
        self._receiver: asyncio.Task[None] | None = None
        # The highest seq handed to each watched job's local watchers. It makes one log line
        # per state change and process, and lets the fallback skip states already pushed.
        self._seen: dict[str, int] = {}
        self._books: list[_Entry] = []  # delivered, not yet counted (keep_books)

    # --- watchers ----------------------------------------------------------------------
    async def add(self, job_id: str, watcher: Watcher) -> None:
        """Register a local watcher, joining the job's group first if needed."""
        self.watchers.setdefault(job_id, set()).add(watcher)
        await self._join(job_id)

    async def remove(self, job_id: str, watcher: Watcher) -> None:
        conns = self.watchers.get(job_id)
        if conns is None:
            return
        conns.discard(watcher)
        if not conns:
            del self.watchers[job_id]
            self._seen.pop(job_id, None)
            await self._leave(job_id)

    def watched(self) -> list[str]:
        return list(self.watchers)

    def seen(self, job_id: str) -> int:
        """The highest seq this process has handed to the job's watchers (-1: none yet)."""
        return self._seen.get(job_id, -1)

    def deliver(
        self,
        job_id: str,
        event: JsonObject,
        path: str,
        frame: bytes | None = None,
        traceparent: object = None,
    ) -> None:
        """Hand an event to every local watcher of the job (each filters by seq).

        ``frame`` is the event as the worker encoded it (written to sockets as it is). A
        pushed event may carry its worker span's ``traceparent`` (tracing on): it is taken
        off here, and the hand-over is a ``taskgate.deliver`` span of the job's trace.
        """
        traceparent = event.pop(telemetry.TRACEPARENT, traceparent)
        if traceparent is None or not telemetry.active() or not self.watchers.get(job_id):
            self._deliver(job_id, event, path, frame)
            return
        attributes = {"job_id": job_id, "event": event.get("event"), "path": path}
        with telemetry.span("taskgate.deliver", telemetry.extract(traceparent), **attributes):
            self._deliver(job_id, event, path, frame)

    def _deliver(self, job_id: str, event: JsonObject, path: str, frame: bytes | None) -> None:
        arrived = time.time()
        conns = self.watchers.get(job_id)
        if not conns:
            return
        if frame is None:
            with contextlib.suppress(ValueError):  # (each socket reports it)
                frame = encode_frame(event)  # once for every local watcher
        for conn in list(conns):
            conn.offer(job_id, event, frame)
        written = time.time()
        seq = event.get("seq")
        new = False
        if isinstance(seq, int) and seq > self._seen.get(job_id, -1):
            self._seen[job_id] = seq
            new = True
        # The books (counters, the delay histogram, the log line) once this process has
        # slept: the client written to may be woken on this process's core, and waits for it.
        self._books.append(_Entry(job_id, event, path, arrived, written, new))
        if len(self._books) == 1:
            asyncio.get_running_loop().call_later(BOOKS_DELAY, self.keep_books)

    def keep_books(self) -> None:
        """Count, time and log what was handed to watchers since the last call."""
        books, self._books = self._books, []
        for entry in books:
            self.delivered[entry.path] += 1
            observe_delay(entry.path, entry.event.get("ts"), entry.arrived)
            seq = entry.event.get("seq")
            if isinstance(seq, int):
                if entry.new:
                    _log(entry.job_id, entry.event, seq, entry.path)
                if stage_times.active():
                    # Arrived, and handed to the last local socket (written, or queued).
                    stage_times.mark(
                        f"gateway-{entry.path}", entry.job_id, seq, entry.arrived, entry.written
                    )

    async def announce(self, job_id: str, event: JsonObject, path: str) -> None:
        """An event the gateway made itself: to local watchers now, and to other processes."""
        self.deliver(job_id, event, path)
        await self.broadcast(job_id, event)

    async def broadcast(self, job_id: str, event: JsonObject) -> None:
        """Send an event to the job's group in the layer (best effort: the fallback covers)."""
        try:
            await self._layer.group_send(group_name(job_id), {"type": "job.event", "event": event})
        except Exception as exc:
            logger.warning("could not broadcast %s of job %s: %r", event.get("event"), job_id, exc)

    # --- the layer -----------------------------------------------------------------------
    def start(self) -> None:
        if self._receiver is None and self._subscriber is None:
            self._receiver = asyncio.get_running_loop().create_task(self._receive_loop())

    async def stop(self) -> None:
        self.keep_books()
        if self._subscriber is not None:
            self._subscriber.close()
        if self._receiver is not None:
            self._receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiver
            self._receiver = None

    def _set_layer_ok(self, ok: bool) -> None:
        if ok != self.layer_ok:
            self.layer_ok = ok
            if ok:
                logger.info("channel layer reachable again")
            else:
                logger.warning("channel layer unreachable: the fallback poll takes over")
            self.layer_changed.set()

    def _own_subscriber(self) -> Subscriber | None:
        address = plain_pubsub_address(self._layer) if get_config().own_subscriber else None
        if address is None:
            logger.debug("pushes are read through the channel layer's own receive")
            return None
        logger.debug("pushes are read on the hub's own pub/sub connection to %s", address.hostname)
        deserialize = message_codec(self._layer)[1]  # a pub/sub layer's: it has one

        def on_message(data: bytes) -> None:
            frame = plain_frame(data)
            if frame is None:
                self._dispatch(deserialize(data))
            else:
                self._hand_on(pushed_frame(frame))

        return Subscriber(
            address,
            on_message,
            self._on_subscriber_lost,
            get_config().redis_connect_timeout,
        )

    def _on_subscriber_lost(self, exc: Exception | None) -> None:
        logger.warning("pub/sub connection lost: %r", exc)
        self._set_layer_ok(False)

    async def _ensure_channel(self) -> str:
        if self._channel is None:
            if self._subscriber is None:
                self._channel = await self._layer.new_channel("gateway.")
            else:
                channel = f"{layer_prefix(self._layer)}gateway.{uuid.uuid4().hex}"
                await self._subscriber.subscribe(channel)
                self._channel = channel
        return self._channel

    async def _join(self, job_id: str) -> None:
        if job_id in self._joined:
            return
        try:
            channel = await self._ensure_channel()
            if self._subscriber is None:
                await self._layer.group_add(group_name(job_id), channel)
            else:
                await self._subscriber.subscribe(group_channel(layer_prefix(self._layer), job_id))
        except Exception as exc:
            logger.warning("could not join the group of job %s: %r", job_id, exc)
            self._set_layer_ok(False)
            return
        self._joined.add(job_id)

    async def _leave(self, job_id: str) -> None:
        if job_id not in self._joined:
            return
        self._joined.discard(job_id)
        if self._subscriber is not None:
            self._subscriber.unsubscribe(group_channel(layer_prefix(self._layer), job_id))
            return
        try:
            await self._layer.group_discard(group_name(job_id), await self._ensure_channel())
        except Exception as exc:
            logger.warning("could not leave the group of job %s: %r", job_id, exc)

    async def rejoin(self) -> None:
        """Join the groups of watched jobs whose join failed while the layer was down."""
        for job_id in [job for job in self.watchers if job not in self._joined]:
            await self._join(job_id)

    async def probe(self) -> bool:
        """Send a message to our own channel through the layer and wait for it."""
        nonce = uuid.uuid4().hex
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._probes[nonce] = waiter
        try:
            if self._subscriber is not None:
                await self._subscriber.connect()  # again if it was lost, with every channel
            channel = await self._ensure_channel()
            self.start()
            async with asyncio.timeout(PROBE_TIMEOUT):
                await self._layer.send(channel, {"type": "taskgate.probe", "nonce": nonce})
            async with asyncio.timeout(PROBE_TIMEOUT):
                await waiter
            ok = True
        except Exception as exc:
            logger.debug("layer probe failed: %r", exc)
            ok = False
        finally:
            self._probes.pop(nonce, None)
        self._set_layer_ok(ok)
        return ok

    async def _receive_loop(self) -> None:
        backoff = 0.5
        while True:
            try:
                channel = await self._ensure_channel()
                message = await self._layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("channel layer receive failed: %r (retrying in %.1fs)", exc, backoff)
                self._set_layer_ok(False)
                await asyncio.sleep(backoff)  # reconnect backoff, not a poll
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.5
            self._dispatch(message)

    def _dispatch(self, message: Any) -> None:
        pushed = pushed_event(message)
        if pushed is not None:
            self._hand_on(pushed)
        elif isinstance(message, dict) and message.get("type") == "taskgate.probe":
            waiter = self._probes.get(str(message.get("nonce")))
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _hand_on(self, pushed: Pushed | None) -> None:
        if pushed is not None:
            event = pushed.event
            self.deliver(event["job_id"], event, "push", pushed.frame, pushed.traceparent)


def _log(job_id: str, event: JsonObject, seq: int, path: str) -> None:
    """One line per state change of a job in this process."""
    name = event.get("event")
    if name == "progress":
        percent = (event.get("progress") or {}).get("percent")
        logger.debug("job=%s state=progress seq=%d percent=%s via=%s", job_id, seq, percent, path)
    else:
        logger.info("job=%s state=%s seq=%d via=%s", job_id, name, seq, path)
