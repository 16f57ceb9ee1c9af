"""What both socket endpoints share: identity, the per-socket connection, limits, cleanup."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from channels.exceptions import DenyConnection
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from gateway.connection import Connection
from gateway.identity import TOKEN_REFUSED, Principal, principal_for
from gateway.protocol import CloseCode, ErrorCode, ProtocolError
from gateway.runtime import Runtime, get_runtime
from gateway.service import JobService
from gateway.wsprotocol import SEND_NOW

logger = logging.getLogger(__name__)


class GatewayConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """A socket that watches jobs through the process hub (it has no layer channel itself)."""

    # The hub holds this process's one channel in the layer; sockets need none of their own.
    channel_layer_alias = "taskgate-sockets-use-the-hub"

    # Frames may go straight into the server's protocol (gateway/wsprotocol.py), skipping
    # ``_send_text``: False for a consumer that rewrites frames there.
    direct_writes = True

    runtime: Runtime
    connection: Connection
    principal: Principal
    service: JobService

    async def connect(self) -> None:
        if self.scope.get(TOKEN_REFUSED):
            raise DenyConnection("unknown or revoked API token")
        self.principal = principal_for(self.scope, uuid.uuid4().hex)
        if not self.principal.authenticated and not settings.TASKGATE_ALLOW_ANONYMOUS:
            raise DenyConnection("sign in or use an API token")
        self.runtime = get_runtime()
        self._background: set[asyncio.Task[None]] = set()
        self.connection = Connection(
            self._send_text,
            self._close_with,
            outbox_size=int(settings.TASKGATE_OUTBOX_SIZE),
            send_timeout=float(settings.TASKGATE_SEND_TIMEOUT),
            on_done=self._watch_done,
            send_now=self.scope.get("extensions", {}).get(SEND_NOW) if self.direct_writes else None,
        )
        self.service = JobService(self.runtime, self.connection, self.principal)
        await self.accept()
        self.runtime.hub.connections.add(self.connection)

    async def disconnect(self, code: int) -> None:
        connection = getattr(self, "connection", None)
        if connection is None:
            return
        hub = self.runtime.hub
        hub.connections.discard(connection)
        await connection.stop()
        for job_id in list(connection.watches):
            await hub.remove(job_id, connection)
        connection.watches.clear()

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _close_with(self, code: int) -> None:
        try:
            await self.close(code=code)
        except Exception as exc:  # the socket may already be gone
            logger.debug("close(%d) failed: %r", code, exc)

    def _watch_done(self, job_id: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self.runtime.hub.remove(job_id, self.connection)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def check_frame(self, text_data: str | None, bytes_data: bytes | None) -> str:
        """The frame's text, or a ProtocolError for a binary or oversized frame."""
        if text_data is None:
            raise ProtocolError(
                ErrorCode.INVALID_MESSAGE, "binary frames are not accepted; send JSON text"
            )
        limit = int(settings.TASKGATE_MAX_FRAME_BYTES)
        if len(text_data) > limit or (
            len(text_data) * 4 > limit and len(text_data.encode("utf-8", "surrogatepass")) > limit
        ):
            raise ProtocolError(ErrorCode.TOO_LARGE, f"frames are limited to {limit} bytes")
        return text_data

    def too_large(self) -> None:
        self.connection.shutdown(CloseCode.MESSAGE_TOO_BIG)

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        # Channels hands text frames as "text" and binary ones as "bytes".
        await self.receive(text_data=message.get("text"), bytes_data=message.get("bytes"))
