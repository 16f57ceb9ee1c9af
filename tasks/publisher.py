"""Send job events into the Channels layer from synchronous worker code.

``async_to_sync(layer.group_send)`` from a worker opens a fresh event loop per call, and the
layer caches its connections per loop ("Event loop is closed", channels_redis #332). Instead
each worker process owns one event loop in a daemon thread; events go through one queue in
the order they were published, and the job never waits for the network.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from channels.layers import get_channel_layer

from tasks import stats
from tasks.state import JsonObject, group_name

logger = logging.getLogger(__name__)

_SEND_TIMEOUT = 5.0
_BATCH = 256  # events sent side by side at most (one job's stay in order)


class LayerPublisher:
    """One per process: a loop thread that drains an ordered queue into ``group_send``."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[str, JsonObject] | None] | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()

    def publish(self, job_id: str, event: JsonObject) -> None:
        """Queue ``event`` for the job's group; returns at once."""
        loop, queue = self._ensure_started()
        loop.call_soon_threadsafe(queue.put_nowait, (job_id, event))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything published so far was handed to Redis (or failed)."""
        if self._pid != os.getpid() or self._loop is None or self._queue is None:
            return True
        queue = self._queue
        future = asyncio.run_coroutine_threadsafe(queue.join(), self._loop)
        try:
            future.result(timeout)
        except TimeoutError:
            logger.warning(
                "event publisher: %d events not flushed in %.1fs", queue.qsize(), timeout
            )
            return False
        return True

    def _ensure_started(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]:
        pid = os.getpid()
        with self._lock:
            # After a fork the thread is gone but the attributes were copied: start anew.
            if self._pid != pid or self._loop is None or self._queue is None:
                self._pid = pid
                self._ready.clear()
                thread = threading.Thread(target=self._run, name="taskgate-publisher", daemon=True)
                thread.start()
                self._ready.wait()
            assert self._loop is not None
            assert self._queue is not None
            return self._loop, self._queue

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._queue = asyncio.Queue()
        self._ready.set()
        loop.run_until_complete(self._drain(self._queue))

    async def _drain(self, queue: asyncio.Queue[tuple[str, JsonObject] | None]) -> None:
        """Send what is queued in batches: one job's events in order, jobs side by side.

        A process that reports for many jobs at once (a threads or gevent pool, or a burst)
        would otherwise wait one Redis round trip per event, and its events would queue up.
        Everything of a batch is handed to Redis before the next batch starts, so the order
        of each job's events is the order they were published.
        """
        layer = get_channel_layer()
        while True:
            batch = [await queue.get()]
            while len(batch) < _BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            lanes: dict[str, list[JsonObject]] = {}
            for item in batch:
                if item is not None:
                    lanes.setdefault(item[0], []).append(item[1])
            try:
                await asyncio.gather(
                    *(self._send_lane(layer, job_id, events) for job_id, events in lanes.items())
                )
            finally:
                for _ in batch:
                    queue.task_done()
            if None in batch:
                return

    async def _send_lane(self, layer: Any, job_id: str, events: list[JsonObject]) -> None:
        for event in events:
            try:
                await asyncio.wait_for(
                    layer.group_send(group_name(job_id), {"type": "job.event", "event": event}),
                    _SEND_TIMEOUT,
                )
            except Exception as exc:
                # At-most-once by design: the gateway's fallback poll repairs a lost push.
                asyncio.get_running_loop().run_in_executor(None, stats.add, stats.PUSH_FAILED, 1)
                logger.warning("push of %s for job %s failed: %r", event.get("event"), job_id, exc)


publisher = LayerPublisher()
