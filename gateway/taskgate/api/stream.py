"""``GET /api/jobs/{job_id}/events``: a job's events as Server-Sent Events, pushed.

The stream is a watcher like a socket: a :class:`~taskgate.delivery.watcher.Watcher` in the
process hub, fed by the channel layer (and the fallback poll), with the same per-watch
``seq`` filter and order. Each message is ``id: <seq>`` and ``data: <the event as JSON>``
(no ``event:`` field, so ``EventSource.onmessage`` sees every event, as a socket would).
It opens with the ``snapshot``, skips everything at or below ``Last-Event-ID`` (or
``?after=``), and ends after the terminal event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Header, Query, Router

from taskgate.api.jobs import JobId, without_ref
from taskgate.api.schemas import ERRORS
from taskgate.auth.http import request_principal
from taskgate.auth.principal import Principal
from taskgate.config import get_config
from taskgate.contract.states import State
from taskgate.delivery.runtime import get_runtime
from taskgate.delivery.watcher import TERMINAL_EVENTS, Watcher
from taskgate.jobs.access import owned_record
from taskgate.jobs.snapshot import watch_snapshot

logger = logging.getLogger(__name__)

router = Router(tags=["jobs"])

_STREAM_DOC = {
    "responses": {
        "200": {
            "description": "A text/event-stream of the job's events; `id:` is `seq`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
}


def _ends(event: dict[str, object]) -> bool:
    if event.get("event") in TERMINAL_EVENTS:
        return True
    return event.get("event") == "snapshot" and State(str(event.get("state"))).terminal


# Stops scheduled from a finalizer, held until they have run.
_STOPPING: set[asyncio.Task[None]] = set()


class EventStream:
    """One SSE response: a hub watcher whose frames go to a queue the response drains.

    It leaves the hub (and gives back its place under the stream caps) exactly once, and
    never waits for a garbage collection to do so: Django closes a response whose client
    went away (:meth:`stop_soon` is one of its closers), but it does not close the async
    iterator it was reading when that iterator was suspended at a ``yield`` (two wrapping
    generators stand between them), and it never starts one whose client left between the
    view and the first byte: such a stream stops itself after ``TASKGATE_BODY_TIMEOUT``.
    """

    def __init__(self, job_id: str, after: int | None, principal: Principal) -> None:
        self.job_id = job_id
        self.after = -1 if after is None else after
        self.principal = principal
        self.closed = False
        self.started = False
        self.stopped = False
        self.loop = asyncio.get_running_loop()
        self.frames: asyncio.Queue[str | None] = asyncio.Queue(get_config().outbox_size)
        self.watcher = Watcher(
            self._send,
            self._close,
            outbox_size=get_config().outbox_size,
            send_timeout=get_config().send_timeout,
            on_done=self._done,
        )
        self._leaving: asyncio.Task[None] | None = None

    async def _send(self, text: str) -> None:
        event = json.loads(text)
        seq = event.get("seq")
        if isinstance(seq, int) and seq > self.after:
            await self.frames.put(f"id: {seq}\ndata: {text}\n\n")
        if _ends(event):
            await self.frames.put(None)

    def _done(self, job_id: str) -> None:
        # The stream ends right after and cleans up; leaving the hub now also covers a
        # response that was never read (its client went away before the first byte).
        hub = get_runtime().hub
        self._leaving = asyncio.get_running_loop().create_task(hub.remove(job_id, self.watcher))

    async def _close(self, code: int) -> None:
        """The hub closes us (server shutdown, or a client that stopped reading)."""
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self.frames.put_nowait(None)

    async def iterate(self) -> AsyncIterator[str]:
        keepalive = get_config().sse_keepalive
        self.started = True
        try:
            while not self.stopped:
                try:
                    # Not asyncio.wait_for: on Python 3.11 it swallows the cancel Django
                    # sends when the client goes away if a frame arrives at that moment, and
                    # uvicorn's send() to a gone client returns quietly, so the stream would
                    # go on, unseen, until its job ended.
                    async with asyncio.timeout(keepalive):
                        frame = await self.frames.get()
                except TimeoutError:
                    if self.closed:
                        return
                    yield ": keep-alive\n\n"  # keeps proxies from timing the stream out
                    continue
                if frame is None:
                    return
                yield frame
        finally:
            await self.stop()

    def stop_unless_started(self) -> None:
        if not self.started:
            self._schedule_stop()

    def stop_soon(self) -> None:
        """:meth:`stop` from any thread (Django calls a response's closers in one)."""
        if self.stopped or self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self._schedule_stop)

    def _schedule_stop(self) -> None:
        task = self.loop.create_task(self.stop())
        _STOPPING.add(task)
        task.add_done_callback(_STOPPING.discard)

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = self.closed = True
        hub = get_runtime().hub
        hub.caps.give_back(self.principal)
        hub.connections.discard(self.watcher)
        await self.watcher.stop()
        self.watcher.watches.clear()
        await hub.remove(self.job_id, self.watcher)


@router.get(
    "/jobs/{job_id}/events",
    response=ERRORS,
    summary="A job's events as Server-Sent Events",
    openapi_extra=_STREAM_DOC,
)
async def events(
    request: HttpRequest,
    job_id: JobId,
    after: Annotated[int | None, Query(ge=0, description="The last seq you have.")] = None,
    last_event_id: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, description="Set by EventSource.")
    ] = None,
) -> StreamingHttpResponse:
    """Pushed events of the job: the ``snapshot`` first, then live events, ending after the
    terminal one. Resumes after ``Last-Event-ID`` (or ``after``)."""
    principal = await request_principal(request)
    record = await owned_record(principal, job_id)
    hub = get_runtime().hub
    hub.caps.take(principal)  # rate_limited (429) over the caps
    stream = EventStream(job_id, last_event_id if last_event_id is not None else after, principal)
    watcher = stream.watcher
    try:
        hub.connections.add(watcher)
        watch = watcher.begin(job_id, stream.after if stream.after >= 0 else None)
        await hub.add(job_id, watcher)
        snapshot = await watch_snapshot(record)
    except BaseException:
        await stream.stop()
        raise
    watcher.activate(watch, without_ref(snapshot))
    logger.debug("event stream of job %s opened after seq %d", job_id, stream.after)
    response = StreamingHttpResponse(
        stream.iterate(),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response._resource_closers.append(stream.stop_soon)  # type: ignore[attr-defined]
    stream.loop.call_later(get_config().body_timeout, stream.stop_unless_started)
    return response
