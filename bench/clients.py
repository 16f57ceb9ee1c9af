"""The load generator: asyncio WebSocket clients that watch jobs and time every event."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TERMINAL = {"success", "failure", "cancelled"}
CONNECT_CONCURRENCY = 200


@dataclass
class Recorder:
    """What all watchers received: delays (s) of timed events, terminals per socket."""

    delays: list[float] = field(default_factory=list)
    events: int = 0
    terminals: int = 0
    first: float = 0.0
    last: float = 0.0
    last_terminal: float = 0.0
    terminal_done: asyncio.Event = field(default_factory=asyncio.Event)
    expected_terminals: int = 0

    def take(self, raw: str | bytes) -> None:
        now = time.time()
        event: dict[str, Any] = json.loads(raw)
        name = event.get("event")
        if name not in TERMINAL and name != "progress":
            return
        self.events += 1
        self.first = self.first or now
        self.last = now
        ts = event.get("ts")
        if isinstance(ts, str):
            self.delays.append(now - datetime.fromisoformat(ts).timestamp())
        if name in TERMINAL:
            self.terminals += 1
            self.last_terminal = now
            if self.expected_terminals and self.terminals >= self.expected_terminals:
                self.terminal_done.set()


@dataclass
class Watchers:
    sockets: list[ClientConnection] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        self.sockets.clear()
        self.readers.clear()


async def _open(url: str, cookie: str | None) -> ClientConnection:
    headers = {"Cookie": cookie} if cookie else None
    return await connect(
        url,
        additional_headers=headers,
        compression=None,
        ping_interval=None,
        open_timeout=60,
        close_timeout=2,
        max_queue=64,
    )


async def _read(ws: ClientConnection, recorder: Recorder) -> None:
    try:
        async for raw in ws:
            recorder.take(raw)
    except Exception:  # a closed socket ends its reader
        return


async def _bounded(items: list[Any], work: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(item: Any) -> Any:
        async with limit:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def open_watchers(
    urls: list[str],
    job_ids: list[str],
    count: int,
    recorder: Recorder,
    *,
    cookie: str | None = None,
    baseline: bool = False,
) -> Watchers:
    """``count`` sockets, socket i on ``urls[i % len]`` watching ``job_ids[i % len]``.

    taskgate sockets send ``watch`` and wait for the snapshot; baseline sockets send the
    job id, which starts their polling loop.
    """
    watchers = Watchers()

    async def one(index: int) -> None:
        ws = await _open(urls[index % len(urls)], cookie)
        job_id = job_ids[index % len(job_ids)]
        if baseline:
            await ws.send(json.dumps({"job_id": job_id}))
        else:
            await ws.send(json.dumps({"op": "watch", "job_id": job_id}))
            answer = json.loads(await ws.recv())
            if answer.get("event") != "snapshot":
                raise RuntimeError(f"watch refused: {answer}")
        watchers.sockets.append(ws)
        watchers.readers.append(asyncio.ensure_future(_read(ws, recorder)))

    await _bounded(list(range(count)), one)
    return watchers


async def create_jobs(
    urls: list[str],
    cookie: str,
    count: int,
    streams: int = 8,
    *,
    job: str = "demo.echo",
    params_of: Callable[[int], dict[str, Any]] | None = None,
) -> list[str]:
    """Submit ``count`` jobs over a few sockets (by default ``demo.echo``, left queued: the
    synthetic scenarios run no worker); ``params_of(n)`` are the n-th job's parameters."""
    per = [count // streams + (1 if i < count % streams else 0) for i in range(streams)]
    first = [sum(per[:i]) for i in range(streams)]

    async def submit(index: int) -> list[str]:
        if not per[index]:
            return []
        ids: list[str] = []
        async with await _open(urls[index % len(urls)], cookie) as ws:
            for n in range(per[index]):
                slot = first[index] + n
                given = params_of(slot) if params_of else {"task_id": slot, "seconds": 0}
                await ws.send(json.dumps({"op": "submit", "job": job, "params": given}))
            while len(ids) < per[index]:
                answer = json.loads(await ws.recv())
                if answer.get("event") == "accepted":
                    ids.append(str(answer["job_id"]))
                elif answer.get("event") == "error":
                    raise RuntimeError(f"submit refused: {answer}")
        return ids

    batches = await asyncio.gather(*(submit(i) for i in range(streams)))
    return [job_id for batch in batches for job_id in batch]
