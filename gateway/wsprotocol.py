"""uvicorn's WebSocket protocol, with a close that works on a client that stopped reading.

(And a quiet 1007 for text frames that are not UTF-8, no handshake kept in memory, and a
synchronous write for frames the socket can take at once: see :meth:`send_now`.)

uvicorn waits for room in the transport's buffer before writing any frame, a close frame
included. For a client that stopped reading there is never room again: the socket (and its
buffered megabytes) would linger until TCP gives up. When we close a socket whose writes are
paused, we reset the connection instead, discarding what it could not send.
"""

from __future__ import annotations

import logging
import socket
import struct
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

logger = logging.getLogger(__name__)

# The scope extension under which a socket's consumer finds :meth:`send_now`.
SEND_NOW = "taskgate.send_now"


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SEND_NOW] = self.send_now

    def send_now(self, text: bytes) -> bool:
        """Write a text frame (UTF-8) now if the socket can take it; False: use ``send``.

        The ASGI ``send`` is a coroutine behind Channels' consumer and middleware layers,
        awaited per frame. A job event is fanned out to every watching socket at once, and
        almost every socket has room in its buffer: those frames are written here, in the
        caller's turn of the loop, with no task or await. A socket whose writes are paused
        (or that is closing) gets False, and its frame goes through ``send`` as before.
        """
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        try:
            self.conn.send_text(text)
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    def send_receive_event_to_app(self) -> None:
        # A text frame that is not UTF-8 is the client's error, not ours: close 1007 with a
        # one-line warning (uvicorn logs it with a traceback).
        if self.curr_msg_data_type == "text" and not self.close_sent:
            data = b"".join(self.frames)
            try:
                data.decode()
            except UnicodeDecodeError:
                logger.warning("closing a socket that sent a text frame that is not UTF-8 (1007)")
                self.frames = []
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    async def send(self, message: ASGISendEvent) -> None:
        if (
            message["type"] == "websocket.close"
            and self.handshake_complete
            and not self.close_sent
            and not self.writable.is_set()
        ):
            logger.info(
                "dropping a connection that stopped reading (close %s)", message.get("code")
            )
            self.close_sent = True
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                # Reset at once: otherwise the kernel keeps retrying the unread megabytes.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
            return
        await super().send(message)
        if message["type"] == "websocket.accept":
            # uvicorn keeps the handshake's request and response (two sets of headers, some
            # 3 KiB) for the socket's whole life; nothing reads them after the handshake.
            # websockets' parser keeps the request too (a local of its generator): its
            # headers are emptied in place (the scope has its own copy).
            if self.request is not None:
                self.request.headers.clear()
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
