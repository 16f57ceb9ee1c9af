"""Request bodies checked at the edge, before Django reads them.

Django's ASGI handler spools a whole body (to a temporary file past 2.5 MB) before any view
or middleware can look at it: a 100 MiB upload became a 100 MiB file, then a 413. Here,
ahead of Django:

- a ``Content-Length`` over the limit is answered ``413`` at once, before a byte of the body
  is read, and the connection is closed (so the client stops sending);
- any other body is read as it arrives, and refused with ``413`` the moment it passes the
  limit (a chunked body has no ``Content-Length``), so at most the limit is ever held;
- a body that has not all arrived within ``TASKGATE_BODY_TIMEOUT`` seconds is answered
  ``408`` (a slow body held a connection for as long as the client liked);
- what was read is handed to Django unchanged, in one message.

The limit is the socket's frame limit (``TASKGATE_MAX_FRAME_BYTES``): the API takes nothing
larger. Refusals have the API's JSON error shape (``too_large``, ``invalid_message``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from taskgate.config import get_config
from taskgate.counters import count_refusal
from taskgate.protocol.codes import ErrorCode

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[..., Awaitable[None]]  # Django's handler types its arguments its own way


class BodyLimit:
    """ASGI middleware: HTTP bodies up to ``TASKGATE_MAX_FRAME_BYTES``, within
    ``TASKGATE_BODY_TIMEOUT`` seconds; everything else passes through untouched."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = get_config()
        limit = config.max_frame_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, 413, ErrorCode.TOO_LARGE, f"bodies are limited to {limit} bytes")
            return
        try:
            async with asyncio.timeout(config.body_timeout):
                first = await _read_body(receive, limit)
        except TimeoutError:
            await _refuse(
                send,
                408,
                ErrorCode.INVALID_MESSAGE,
                f"the body did not arrive within {config.body_timeout:g} s",
            )
            return
        except _TooLarge:
            await _refuse(send, 413, ErrorCode.TOO_LARGE, f"bodies are limited to {limit} bytes")
            return
        if first is None:  # the client went away while sending
            return
        await self.app(scope, _Replay(first, receive), send)


class _TooLarge(Exception):
    pass


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # uvicorn's parser refuses these before we see them
    return None


async def _read_body(receive: Receive, limit: int) -> Message | None:
    """The whole body as one ``http.request`` message; None if the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


class _Replay:
    """``receive`` for the app: the body read already, then the client's own messages
    (its ``http.disconnect``)."""

    def __init__(self, first: Message, receive: Receive) -> None:
        self._first: Message | None = first
        self._receive = receive

    async def __call__(self) -> Message:
        first, self._first = self._first, None
        if first is not None:
            return first
        return await self._receive()


async def _refuse(send: Send, status: int, code: ErrorCode, message: str) -> None:
    count_refusal(code)
    logger.debug("request body refused (%d): %s", status, message)
    body = json.dumps({"code": code.value, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not wanted: closing tells the client to stop.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
