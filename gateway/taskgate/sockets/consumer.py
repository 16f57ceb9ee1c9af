"""What both socket endpoints share: identity, the per-socket watcher, limits, cleanup."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from channels.exceptions import DenyConnection, StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from taskgate.auth.middleware import TOKEN_REFUSED
from taskgate.auth.principal import Principal, principal_for
from taskgate.config import get_config
from taskgate.delivery.runtime import Runtime, get_runtime
from taskgate.delivery.watcher import SEND_NOW, Watcher
from taskgate.protocol.codes import CloseCode, ErrorCode
from taskgate.protocol.errors import ProtocolError
from taskgate.sockets.actions import SocketActions

logger = logging.getLogger(__name__)


class SocketConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """A socket that watches jobs through the process hub (it has no layer channel itself)."""

    # The hub holds this process's one channel in the layer; sockets need none of their own.
    channel_layer_alias = "taskgate-sockets-use-the-hub"

    # Frames may go straight into the server's protocol (gateway/wsprotocol.py), skipping
    # ``_send_text``: False for a consumer that rewrites frames there.
    direct_writes = True

    runtime: Runtime
    watcher: Watcher
    principal: Principal
    service: SocketActions

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' ``AsyncConsumer.__call__`` for a consumer without a layer channel.

        Channels reads ``receive`` through ``await_many_dispatch``: a task per awaited
        message and an ``asyncio.wait`` around it, some 2 KiB of every idle socket. A socket
        of ours has one source of messages, so it awaits them here, in its own task, and
        dispatches each before reading the next, as Channels does.
        """
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def connect(self) -> None:
        if self.scope.get(TOKEN_REFUSED):
            raise DenyConnection("unknown or revoked API token")
        self.principal = principal_for(self.scope, uuid.uuid4().hex)
        if not self.principal.authenticated and not get_config().allow_anonymous:
            raise DenyConnection("sign in or use an API token")
        self.runtime = get_runtime()
        self._background: set[asyncio.Task[None]] = set()
        self.watcher = Watcher(
            self._send_text,
            self._close_with,
            outbox_size=get_config().outbox_size,
            send_timeout=get_config().send_timeout,
            on_done=self._watch_done,
            send_now=self.scope.get("extensions", {}).get(SEND_NOW) if self.direct_writes else None,
        )
        self.service = SocketActions(self.runtime, self.watcher, self.principal)
        await self.accept()
        try:
            self.runtime.hub.caps.take(self.principal)
        except ProtocolError as refusal:
            # Accepted first: a refused handshake could not say why (a bare 403).
            await self._close_with(CloseCode.TRY_AGAIN_LATER, refusal.message)
            return
        self._counted = True
        self.runtime.hub.connections.add(self.watcher)

    async def disconnect(self, code: int) -> None:
        watcher = getattr(self, "watcher", None)
        if watcher is None:
            return
        hub = self.runtime.hub
        if getattr(self, "_counted", False):
            self._counted = False
            hub.caps.give_back(self.principal)
        hub.connections.discard(watcher)
        await watcher.stop()
        for job_id in list(watcher.watches):
            await hub.remove(job_id, watcher)
        watcher.watches.clear()

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _close_with(self, code: int, reason: str = "") -> None:
        try:
            await self.close(code=code, reason=reason[:120])
        except Exception as exc:  # the socket may already be gone
            logger.debug("close(%d) failed: %r", code, exc)

    def _watch_done(self, job_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self.runtime.hub.remove(job_id, self.watcher))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def check_frame(self, text_data: str | None, bytes_data: bytes | None) -> str:
        """The frame's text, or a ProtocolError for a binary or oversized frame."""
        if text_data is None:
            raise ProtocolError(
                ErrorCode.INVALID_MESSAGE, "binary frames are not accepted; send JSON text"
            )
        limit = get_config().max_frame_bytes
        if len(text_data) > limit or (
            len(text_data) * 4 > limit and len(text_data.encode("utf-8", "surrogatepass")) > limit
        ):
            raise ProtocolError(ErrorCode.TOO_LARGE, f"frames are limited to {limit} bytes")
        return text_data

    def too_large(self) -> None:
        self.watcher.shutdown(CloseCode.MESSAGE_TOO_BIG)

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        # Channels hands text frames as "text" and binary ones as "bytes".
        await self.receive(text_data=message.get("text"), bytes_data=message.get("bytes"))
