"""``GET /api/jobs/{job_id}/events``: a job's events as Server-Sent Events, pushed.

The stream is a watcher like a socket: a :class:`~gateway.connection.Connection` in the
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

from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Header, Query, Router

from gateway import jobops
from gateway.api.auth import request_principal
from gateway.api.jobs import JobId, without_ref
from gateway.api.schemas import ERRORS
from gateway.connection import TERMINAL_EVENTS, Connection
from gateway.records import owned_record
from gateway.runtime import get_runtime
from tasks.state import State

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


class EventStream:
    """One SSE response: a hub watcher whose frames go to a queue the response drains."""

    def __init__(self, job_id: str, after: int | None) -> None:
        self.job_id = job_id
        self.after = -1 if after is None else after
        self.closed = False
        self.frames: asyncio.Queue[str | None] = asyncio.Queue(int(settings.TASKGATE_OUTBOX_SIZE))
        self.connection = Connection(
            self._send,
            self._close,
            outbox_size=int(settings.TASKGATE_OUTBOX_SIZE),
            send_timeout=float(settings.TASKGATE_SEND_TIMEOUT),
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
        self._leaving = asyncio.get_running_loop().create_task(hub.remove(job_id, self.connection))

    async def _close(self, code: int) -> None:
        """The hub closes us (server shutdown, or a client that stopped reading)."""
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self.frames.put_nowait(None)

    async def iterate(self) -> AsyncIterator[str]:
        keepalive = float(settings.TASKGATE_SSE_KEEPALIVE)
        try:
            while True:
                try:
                    frame = await asyncio.wait_for(self.frames.get(), keepalive)
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

    async def stop(self) -> None:
        hub = get_runtime().hub
        hub.connections.discard(self.connection)
        await self.connection.stop()
        self.connection.watches.clear()
        await hub.remove(self.job_id, self.connection)


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
    stream = EventStream(job_id, last_event_id if last_event_id is not None else after)
    hub = get_runtime().hub
    connection = stream.connection
    hub.connections.add(connection)
    watch = connection.begin(job_id, stream.after if stream.after >= 0 else None)
    await hub.add(job_id, connection)
    try:
        snapshot = await jobops.snapshot(record)
    except BaseException:
        await stream.stop()
        raise
    connection.activate(watch, without_ref(snapshot))
    logger.debug("event stream of job %s opened after seq %d", job_id, stream.after)
    return StreamingHttpResponse(
        stream.iterate(),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
