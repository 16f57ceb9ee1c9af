"""Send job events into the Channels layer from synchronous worker code.

``async_to_sync(layer.group_send)`` from a worker opens a fresh event loop per call, and the
layer caches its connections per loop ("Event loop is closed", channels_redis #332). Instead
each worker process owns one event loop in a daemon thread. ``publish`` appends the event to
a queue and returns at once (the job never waits for the network); the loop thread takes
everything queued at once and sends it in one Redis round trip, in the order it was
published.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from typing import Any

from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer

from tasks import stats
from tasks.state import JsonObject, group_name

logger = logging.getLogger(__name__)

_SEND_TIMEOUT = 5.0
_BATCH = 512  # events per round trip at most

# A queued event, or a flush marker: set once everything queued before it was sent.
_Item = tuple[str, JsonObject] | threading.Event


class LayerPublisher:
    """One per process: a queue drained by a loop thread into the job groups of the layer."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._pending: deque[_Item] = deque()
        self._wake_scheduled = False
        self._lock = threading.Lock()
        self._ready = threading.Event()

    def publish(self, job_id: str, event: JsonObject) -> None:
        """Queue ``event`` for the job's group; returns at once."""
        loop = self._ensure_started()
        self._pending.append((job_id, event))
        self._wake(loop)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything published so far was handed to Redis (or failed)."""
        loop = self._loop
        if self._pid != os.getpid() or loop is None:
            return True
        marker = threading.Event()
        self._pending.append(marker)
        self._wake(loop)
        if not marker.wait(timeout):
            logger.warning(
                "event publisher: %d events not flushed in %.1fs", len(self._pending), timeout
            )
            return False
        return True

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        # One wake-up of the loop thread per batch, not per event: while one is scheduled,
        # what is appended meanwhile is taken by the same drain (appended before the check).
        if not self._wake_scheduled:
            self._wake_scheduled = True
            loop.call_soon_threadsafe(self._on_wake)

    def _on_wake(self) -> None:
        self._wake_scheduled = False
        assert self._wakeup is not None
        self._wakeup.set()

    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        pid = os.getpid()
        loop = self._loop
        if self._pid == pid and loop is not None:
            return loop
        with self._lock:
            # After a fork the thread is gone but the attributes were copied: start anew.
            if self._pid != pid or self._loop is None:
                self._loop = None  # (a parent's loop) before the pid: see the check above
                self._pid = pid
                self._pending = deque()
                self._wake_scheduled = False
                self._ready.clear()
                thread = threading.Thread(target=self._run, name="taskgate-publisher", daemon=True)
                thread.start()
                self._ready.wait()
            assert self._loop is not None
            return self._loop

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._wakeup = asyncio.Event()
        self._loop = loop
        self._ready.set()
        loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        """Send what is queued, a batch per round trip, in the order it was published."""
        assert self._wakeup is not None
        sender = BatchSender(get_channel_layer())
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch: list[tuple[str, JsonObject]] = []
                marker: threading.Event | None = None
                while self._pending and len(batch) < _BATCH:
                    item = self._pending.popleft()
                    if isinstance(item, threading.Event):
                        marker = item
                        break
                    batch.append(item)
                if batch:
                    await sender.send(batch)
                if marker is not None:
                    marker.set()


class BatchSender:
    """``group_send`` for many events in one round trip.

    With channels-redis's pub/sub layer, ``group_send`` is one ``PUBLISH`` of the serialized
    message on the group's Redis channel, and the layer sends them one at a time (a lock per
    shard). Here the same ``PUBLISH``es, named and serialized by the layer itself, go out in
    one pipeline per shard. Another layer gets one ``group_send`` per event.
    """

    def __init__(self, layer: Any) -> None:
        self._layer = layer
        self._pipelined = isinstance(layer, RedisPubSubChannelLayer)

    async def send(self, batch: list[tuple[str, JsonObject]]) -> None:
        try:
            if self._pipelined:
                await asyncio.wait_for(self._publish_pipelined(batch), _SEND_TIMEOUT)
            else:
                for job_id, event in batch:
                    await asyncio.wait_for(
                        self._layer.group_send(group_name(job_id), _message(event)), _SEND_TIMEOUT
                    )
        except Exception as exc:
            # At-most-once by design: the gateway's fallback poll repairs a lost push.
            asyncio.get_running_loop().run_in_executor(
                None, stats.add, stats.PUSH_FAILED, len(batch)
            )
            logger.warning("push of %d events failed: %r", len(batch), exc)

    async def _publish_pipelined(self, batch: list[tuple[str, JsonObject]]) -> None:
        layer = self._layer._get_layer()  # the layer of this event loop
        pipes: dict[Any, Any] = {}  # shard -> its pipeline
        for job_id, event in batch:
            channel = layer._get_group_channel_name(group_name(job_id))
            shard = layer._get_shard(channel)
            if shard not in pipes:
                shard._ensure_redis()
                pipes[shard] = shard._redis.pipeline(transaction=False)
            pipes[shard].publish(channel, self._layer.serialize(_message(event)))
        for pipe in pipes.values():
            await pipe.execute()


def _message(event: JsonObject) -> JsonObject:
    return {"type": "job.event", "event": event}


publisher = LayerPublisher()
