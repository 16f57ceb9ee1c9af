"""The design taskgate replaces, as the benchmark's comparison: one polling loop per watcher.

The original article's consumer runs ``while not result.ready(): sleep(0.1)`` for each
socket and then sends the result. Here each watcher's loop reads the job's result-backend
key every 0.1 s (one ``GET``, exactly what ``AsyncResult.ready()`` costs, but on
``redis.asyncio`` so that a thousand loops fit in one process, which favours the baseline),
and sends every state change it sees (so progress is relayed too, with the state's ``ts``),
until the job is ready. Served by the same uvicorn, without per-message deflate.

    python -m bench.baseline --port 8100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskgate.serve.settings")

import redis.asyncio as aioredis
import uvicorn

from taskgate.config.celery_app import result_target
from taskgate.serve.celery_app import app as celery_app

POLL_SECONDS = 0.1
READY = {"SUCCESS", "FAILURE", "REVOKED"}

_client: aioredis.Redis | None = None


def _redis() -> aioredis.Redis:
    global _client
    if _client is None:
        # A blocking pool: with the default one, loops past the 100th connection fail with
        # "too many connections" instead of waiting their turn.
        pool = result_target().async_pool(max_connections=200, timeout=None)
        _client = aioredis.Redis(connection_pool=pool)
    return _client


def _frame(job_id: str, meta: dict[str, Any]) -> str:
    status = meta.get("status")
    result = meta.get("result")
    if status in READY:
        return json.dumps({"event": "success", "job_id": job_id, "ts": meta.get("date_done")})
    info = result if isinstance(result, dict) else {}
    return json.dumps(
        {"event": "progress", "job_id": job_id, "ts": info.get("ts"), "seq": info.get("seq")}
    )


async def _watch(job_id: str, send: Any) -> None:
    backend: Any = celery_app.backend
    key = backend.get_key_for_task(job_id)
    last: bytes | str | None = None
    while True:
        raw = await _redis().get(key)
        if raw is not None and raw != last:
            last = raw
            meta = backend.decode(raw)
            await send({"type": "websocket.send", "text": _frame(job_id, meta)})
            if meta.get("status") in READY:
                return
        await asyncio.sleep(POLL_SECONDS)  # the baseline's design: poll every 0.1 s


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"baseline"})
        return
    if scope["type"] != "websocket":
        return
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    message = await receive()
    if message["type"] != "websocket.receive":
        return
    job_id = str(json.loads(message.get("text") or "{}").get("job_id"))
    poller = asyncio.ensure_future(_watch(job_id, send))
    closed = asyncio.ensure_future(receive())
    await asyncio.wait({poller, closed}, return_when=asyncio.FIRST_COMPLETED)
    poller.cancel()
    closed.cancel()
    if not closed.cancelled() and closed.done():
        return
    await send({"type": "websocket.close", "code": 1000})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        "bench.baseline:app",
        host="127.0.0.1",
        port=args.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level="warning",
        lifespan="off",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
