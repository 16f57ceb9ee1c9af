"""Watchers for the real-worker scenarios: every kind of client a variant needs, one recorder.

Each received progress state is recorded once per watcher as (job id, step or seq, the time
the worker reported it, the time it arrived here). taskgate's events carry ``ts``; the
peers' jobs put the report time in their progress payload (celery-progress's
``description``, the article job's meta), since they have no timestamp of their own.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from bench.lean_ws import OnFrame, lean_connect

TERMINAL = {"success", "failure", "cancelled"}


@dataclass
class Received:
    """(job id, seq or step, reported at, received at) per progress state and watcher."""

    samples: list[tuple[str, int, float, float]] = field(default_factory=list)
    terminals: int = 0
    stopped: bool = False  # pollers end their loop (redis-py's asyncio client can swallow a cancel)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected_terminals: int = 0

    def progress(
        self, job_id: str, key: int, reported: float, received: float | None = None
    ) -> None:
        """One state seen: received now, or at ``received`` (when its bytes arrived)."""
        self.samples.append((job_id, key, reported, time.time() if received is None else received))

    def terminal(self) -> None:
        self.terminals += 1
        if self.terminals >= self.expected_terminals:
            self.done.set()

    # Per polling watcher: its job and the (step, time) of each new step it saw, in order.
    polls: list[tuple[str, list[tuple[int, float]]]] = field(default_factory=list)

    def delays(self) -> list[float]:
        return sorted(received - reported for _, _, reported, received in self.samples)

    def staleness(self, reported: dict[str, list[float]]) -> list[float]:
        """Per polling watcher and step: when it first saw that step or a later one, minus
        when the step was reported (``reported[job][step - 1]``): how far behind its bar was.
        A poller sees only the newest state, so this is its delay for every step."""
        out = []
        for job_id, seen in self.polls:
            index = 0
            for step, at in enumerate(reported.get(job_id, []), start=1):
                while index < len(seen) and seen[index][0] < step:
                    index += 1
                if index == len(seen):
                    break
                out.append(seen[index][1] - at)
        return sorted(out)


Watch = Callable[[str], Awaitable[None]]


async def taskgate_watch(url: str, cookie: str, job_id: str, out: Received) -> None:
    """One taskgate socket watching one job until its end; each frame is stamped when its
    bytes reached this process (:mod:`bench.lean_ws`)."""
    ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_frame(raw: bytes, at: float) -> None:
        event: dict[str, Any] = json.loads(raw)
        name = event.get("event")
        if name == "progress":
            reported = datetime.fromisoformat(str(event["ts"])).timestamp()
            out.progress(job_id, int(event["seq"]), reported, at)
        elif not ended.done() and (
            name in TERMINAL or (name == "snapshot" and event.get("state") in TERMINAL)
        ):
            ended.set_result(None)

    await _until_end(
        url, cookie, json.dumps({"op": "watch", "job_id": job_id}), on_frame, ended, out
    )


async def _until_end(
    url: str,
    cookie: str | None,
    first: str,
    on_frame: OnFrame,
    ended: asyncio.Future[None],
    out: Received,
) -> None:
    """Open a lean socket, send ``first``, wait until ``ended`` (or the socket closes), then
    keep the socket open until every watcher of the run saw its end, as a page keeps its
    socket after its bar filled: 1,000 sockets closing within the same 100 ms as the last
    events are a bench artefact that took CPU from the deliveries still under way."""
    ws = await lean_connect(url, on_frame, cookie)
    try:
        ws.send_text(first)
        await asyncio.wait([ended, ws.closed], return_when=asyncio.FIRST_COMPLETED)
        if ended.done():
            out.terminal()
            await out.done.wait()
    finally:
        ws.close()


def _cp_step(data: dict[str, Any]) -> tuple[int, float] | None:
    progress = data.get("progress") or {}
    description = str(progress.get("description") or "")
    if not description.startswith("t="):
        return None
    return int(progress.get("current") or 0), float(description[2:])


async def cp_ws_watch(base: str, job_id: str, out: Received) -> None:
    """celery-progress's WebSocket mode: its consumer at ws/progress/<id>/ (as its JS does),
    on the same lean client as taskgate's watchers."""
    ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_frame(raw: bytes, at: float) -> None:
        data: dict[str, Any] = json.loads(raw)
        if data.get("complete"):
            if not ended.done():
                ended.set_result(None)
            return
        step = _cp_step(data)
        if step is not None:
            out.progress(job_id, *step, at)

    # The first message is what its websockets.js sends on open.
    first = json.dumps({"type": "check_task_completion"})
    await _until_end(f"{base}/ws/progress/{job_id}/", None, first, on_frame, ended, out)


async def _http_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> Any:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    if b"transfer-encoding: chunked" not in head:
        length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        return json.loads(await reader.readexactly(length))
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += await reader.readexactly(size)
        await reader.readexactly(2)
    await reader.readexactly(2)
    return json.loads(body)


async def cp_http_watch(base: str, job_id: str, out: Received, interval: float = 0.5) -> None:
    """celery-progress's default mode: GET its progress view, wait 500 ms after each answer
    (its celery_progress.js ``pollInterval``), until complete."""
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    seen = 0
    polls: list[tuple[int, float]] = []
    out.polls.append((job_id, polls))
    try:
        while not out.stopped:
            data = await _http_get(reader, writer, f"/celery_progress/{job_id}/")
            if data.get("complete"):
                out.terminal()
                return
            step = _cp_step(data)
            if step is not None and step[0] > seen:
                seen = step[0]
                out.progress(job_id, *step)
                polls.append((seen, time.time()))
            await asyncio.sleep(interval)  # the peer's own polling interval
    finally:
        writer.close()


async def article_watch(
    client: aioredis.Redis, job_id: str, out: Received, interval: float = 0.1
) -> None:
    """The article's ``while not result.ready(): sleep(0.1)``, reading ``result.info`` each
    turn: what AsyncResult reads, one GET of the job's result key per turn."""
    seen = 0
    polls: list[tuple[int, float]] = []
    out.polls.append((job_id, polls))
    while not out.stopped:
        raw = await client.get(f"celery-task-meta-{job_id}")
        meta: dict[str, Any] = json.loads(raw) if raw else {}
        if meta.get("status") in ("SUCCESS", "FAILURE", "REVOKED"):
            out.terminal()
            return
        info = meta.get("result") or {}
        if meta.get("status") == "PROGRESS" and int(info.get("current", 0)) > seen:
            seen = int(info["current"])
            out.progress(job_id, seen, float(info["reported"]))
            polls.append((seen, time.time()))
        await asyncio.sleep(interval)  # the article's polling interval


STOP_SECONDS = 10.0


async def stop_all(tasks: list[asyncio.Task[None]], received: Received) -> None:
    """Stop the watchers and wait for them, a bounded time (a run never hangs on one)."""
    received.stopped = True
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=STOP_SECONDS)


async def reported_times(url: str, job_ids: list[str]) -> dict[str, list[float]]:
    """When each step of each peer job was reported (the peers' jobs list them at the end)."""
    client = aioredis.Redis.from_url(url)
    try:
        pipe = client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.lrange(f"bench:reported:{job_id}", 0, -1)
        lists = await asyncio.wait_for(pipe.execute(), 30)
    finally:
        await client.aclose()
    return {job_id: [float(t) for t in times] for job_id, times in zip(job_ids, lists, strict=True)}
