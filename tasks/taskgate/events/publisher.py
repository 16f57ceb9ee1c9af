"""Send job events into the Channels layer from synchronous worker code.

``async_to_sync(layer.group_send)`` from a worker opens a fresh event loop per call, and the
layer caches its connections per loop ("Event loop is closed", channels_redis #332). Instead
each worker process owns one event loop in a daemon thread. ``publish`` appends the event to
a queue and returns at once (the job never waits for the network); the loop thread takes
everything queued at once and sends it in one Redis round trip, in the order it was
published (:mod:`taskgate.events.layer_pipeline`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque

from channels.layers import get_channel_layer

from taskgate.config import get_config
from taskgate.contract.wire import JsonObject
from taskgate.events import stage_times, stats
from taskgate.events.layer_pipeline import BatchSender, DirectRoute, direct_route
from taskgate.events.redis_client import result_redis

logger = logging.getLogger(__name__)


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
        self._route: DirectRoute | None = None
        self._route_pid: int | None = None
        self._warm_wanted = False

    def route(self) -> DirectRoute | None:
        """How the store script pushes events itself, if it can here (once per process)."""
        pid = os.getpid()
        if self._route_pid != pid:
            kwargs = result_redis().connection_pool.connection_kwargs
            host = None
            # Not through Sentinel, nor over a Unix socket.
            if "host" in kwargs and get_config().direct_push:
                host = (str(kwargs["host"]), int(kwargs.get("port", 6379)))
            self._route = direct_route(get_channel_layer(), host)
            self._route_pid = pid
        return self._route

    def publish(self, job_id: str, event: JsonObject) -> None:
        """Queue ``event`` for the job's group; returns at once."""
        loop = self._ensure_started()
        self._pending.append((job_id, event))
        self._wake(loop)

    def warm(self) -> None:
        """Start the loop thread and connect its layer now (a pool process at its start), not
        at the first end a job pushes: one cost less at the moment many jobs end together."""
        self._warm_wanted = True
        self._wake(self._ensure_started())

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
        sender = BatchSender(get_channel_layer(), _count_failed)
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._warm_wanted:
                self._warm_wanted = False
                await sender.connect()
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
                    if stage_times.active():
                        sent = time.time()
                        for job_id, event in batch:
                            stage_times.mark("published", job_id, int(str(event.get("seq"))), sent)
                if marker is not None:
                    marker.set()


publisher = LayerPublisher()


def _count_failed(count: int) -> None:
    # From the loop thread: the counter's sync Redis call must not hold the loop up.
    asyncio.get_running_loop().run_in_executor(None, stats.add, stats.PUSH_FAILED, count)
