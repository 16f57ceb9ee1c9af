"""uvicorn's WebSocket class, with a close that works on a client that stopped reading.

(And a quiet 1007 for text frames that are not UTF-8, no handshake kept in memory, a
synchronous write for frames the socket can take at once (see :meth:`send_now`), and a
lighter inbox and write flag per socket than asyncio's queue and event.)

uvicorn waits for room in the transport's buffer before writing any frame, a close frame
included. For a client that stopped reading there is never room again: the socket (and its
buffered megabytes) would linger until TCP gives up. When we close a socket whose writes are
paused, we reset the connection instead, discarding what it could not send.

This is the one module built on uvicorn's internals (the members in ``REQUIRED_METHODS`` and
``REQUIRED_ATTRIBUTES``). :func:`direct_writes_supported` checks them at start-up; if the
installed uvicorn lacks one, the server says so once and runs uvicorn's own class instead.
pyproject bounds uvicorn (and websockets, which it drives) to the minor versions tested.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import struct
from typing import Any

import uvicorn
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.protocol import OPEN, Protocol

from taskgate.delivery.watcher import SEND_NOW
from taskgate.serve import uvicorn_members

logger = logging.getLogger(__name__)

# --- What this module relies on in uvicorn's WebSocketsSansIOProtocol (checked at start-up). ---
# Methods it overrides or calls.
REQUIRED_METHODS = (
    "handle_connect",
    "send_receive_event_to_app",
    "handle_parser_exception",
    "send",
)
# Instance attributes it reads or writes (set by uvicorn's own methods).
REQUIRED_ATTRIBUTES = (
    "scope", "handshake_complete", "close_sent", "disconnected", "initial_response",
    "writable", "transport", "conn", "curr_msg_data_type", "frames", "request", "response",
    "queue",
)  # fmt: skip
# What asyncio's Queue has and _Inbox lacks (Event's four methods _Flag has them all): if the
# protocol's code names one of these, it runs with asyncio's own.
INBOX_LACKS = frozenset({"get_nowait", "put", "full", "task_done", "shutdown", "maxsize"})


# What send_now reads of websockets' Protocol to write a frame itself (set by its __init__).
FRAMING_ATTRIBUTES = ("extensions", "writes", "debug", "expect_continuation_frame", "state")


def missing_members(base: type) -> list[str]:
    """What :class:`GatewayWebSocket` needs that ``base`` does not have."""
    return uvicorn_members.missing_members(base, REQUIRED_METHODS, REQUIRED_ATTRIBUTES)


@functools.cache
def light_inbox_supported(base: type = WebSocketsSansIOProtocol) -> bool:
    """Whether uvicorn's protocol uses nothing of its queue that _Inbox lacks."""
    return not INBOX_LACKS & uvicorn_members.names_used(base)


@functools.cache
def direct_writes_supported() -> bool:
    """Whether the installed uvicorn still has every member :class:`GatewayWebSocket` uses.

    If not, one warning names what is missing and the server runs uvicorn's own class
    (every frame then takes the ASGI ``send``: slower, still correct).
    """
    missing = missing_members(WebSocketsSansIOProtocol)
    if missing:
        logger.warning(
            "uvicorn %s lacks %s of WebSocketsSansIOProtocol: serving with uvicorn's own "
            "WebSocket class (no direct frame writes; taskgate was tested with uvicorn 0.54)",
            uvicorn.__version__,
            ", ".join(missing),
        )
        return False
    return True


@functools.cache
def own_framing_supported() -> bool:
    """Whether websockets' Protocol still has what :meth:`GatewayWebSocket.send_now` checks
    before it frames a text itself (if not, websockets frames every one)."""
    return not uvicorn_members.missing_members(Protocol, (), FRAMING_ATTRIBUTES)


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (a server's), as websockets makes it with no extension."""
    length = len(payload)
    if length < 126:
        head = bytes((0x81, length))
    elif length < 65536:
        head = struct.pack("!BBH", 0x81, 126, length)
    else:
        head = struct.pack("!BBQ", 0x81, 127, length)
    return head + payload


class _Inbox:
    """The per-socket queue uvicorn reads the app's messages from, without asyncio's three
    deques (some 2.3 KiB of every idle socket): what uvicorn uses of ``asyncio.Queue``
    (``put_nowait``, ``get``, ``empty``), a list made only while messages wait, and one
    waiter (an ASGI app calls ``receive`` from one place)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = [item]
        else:
            self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("a socket's messages are received from one place at a time")
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        items = self._items
        item = items.pop(0)
        if not items:
            self._items = None
        return item


class _Flag:
    """uvicorn's per-socket ``writable`` event without the deque of an ``asyncio.Event``."""

    __slots__ = ("_is_set", "_waiter")

    def __init__(self) -> None:
        self._is_set = True
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        self._is_set = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self) -> bool:
        if not self._is_set:
            if self._waiter is None:
                self._waiter = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._waiter)  # several sends may wait; one may be cancelled
        return True


class GatewayWebSocket(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if light_inbox_supported():
            self.queue = _Inbox()  # type: ignore[assignment]
            self.writable = _Flag()  # type: ignore[assignment]

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
        conn = self.conn
        if (
            not conn.extensions  # no compression (the server offers none)
            and not conn.writes  # nothing of websockets' own waits to go first
            and not conn.debug
            and not conn.expect_continuation_frame
            and conn.state is OPEN
            and own_framing_supported()
        ):
            # Framed here: websockets' send_text makes a frame object and serializes it
            # through a buffer, a fifth of a pushed event's time in the gateway after idle.
            self.transport.write(text_frame(text))
            return True
        try:
            conn.send_text(text)
        except InvalidState:
            return False
        self.transport.write(b"".join(conn.data_to_send()))
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
