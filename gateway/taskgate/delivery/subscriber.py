"""The gateway's own pub/sub connection: pushed events from Redis straight into the hub.

channels-redis' pub/sub layer reads its subscriptions in a task of its own (a
``get_message`` with a 0.1 s timeout per message), puts each message on a queue per channel,
and the hub's receive loop takes it from that queue: two task wake-ups and a timeout's
machinery per event before the hub sees it (about 1 ms of the delay on the 2-core machine,
docs/benchmarks.md). Where the layer is a plain pub/sub layer on one Redis
(:func:`~taskgate.events.layer_pipeline.plain_pubsub_address`), the hub subscribes itself
instead, on one connection per process: an asyncio protocol parses what Redis sends with
hiredis as the bytes arrive and hands each message to the hub in the same turn of the
loop, so a pushed frame is written to its sockets in the turn its bytes were read.

Nothing else changes: the messages are the layer's own (read with its ``deserialize``), the
group channels are named by the layer's own method, workers publish as before, and
``group_send``/``send`` still go through the layer. A subscribe waits for Redis to confirm
it, so a job's first push cannot pass its subscription. A lost connection is reported to the
hub (the fallback poll takes over) and made again by :meth:`Subscriber.connect`, which the
hub's probe calls; it subscribes every wanted channel again before it returns.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import cast
from urllib.parse import SplitResult, unquote

import hiredis

logger = logging.getLogger(__name__)


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class _Connection(asyncio.Protocol):
    """One connection in subscribe mode (RESP2)."""

    def __init__(self, owner: Subscriber) -> None:
        self._owner = owner
        self._reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.replies: list[asyncio.Future[object]] = []  # before subscribe mode: AUTH

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)  # a dead peer is found

    def send(self, *parts: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(_command(*parts))

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as exc:
                logger.warning("pub/sub connection: %r", exc)
                if self.transport is not None:
                    self.transport.abort()
                return
            if reply is False:
                return
            self._owner.reply(self, reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for waiter in self.replies:
            if not waiter.done():
                waiter.set_exception(ConnectionError("the pub/sub connection was lost"))
        self.replies.clear()
        self._owner.lost(self, exc)


class Subscriber:
    """Channels subscribed on one connection to one Redis; each message to ``on_message``.

    ``on_message(data)`` gets the raw message (the layer's serialized form); ``on_lost(exc)``
    is called once when the connection goes.
    """

    def __init__(
        self,
        address: SplitResult,
        on_message: Callable[[bytes], None],
        on_lost: Callable[[Exception | None], None],
        connect_timeout: float,
    ) -> None:
        self._address = address
        self._on_message = on_message
        self._on_lost = on_lost
        self._connect_timeout = connect_timeout
        self._wanted: set[bytes] = set()
        self._confirming: dict[bytes, list[asyncio.Future[None]]] = {}
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.closed

    async def subscribe(self, channel: str) -> None:
        """Subscribe and wait until Redis confirms it (or raise; the channel is then not
        wanted: the hub joins again later)."""
        name = channel.encode()
        self._wanted.add(name)
        try:
            connection = await self.connect()
            waiter = self._confirmation(name)
            connection.send(b"SUBSCRIBE", name)
            async with asyncio.timeout(self._connect_timeout):
                await waiter
        except BaseException:
            self._wanted.discard(name)
            raise

    def unsubscribe(self, channel: str) -> None:
        name = channel.encode()
        self._wanted.discard(name)
        if self._connection is not None:
            self._connection.send(b"UNSUBSCRIBE", name)

    async def connect(self) -> _Connection:
        """The connection, made (and every wanted channel subscribed on it) if it is not."""
        async with self._connecting:
            if self._connection is not None and not self._connection.closed:
                return self._connection
            try:
                async with asyncio.timeout(self._connect_timeout):
                    connection = await self._open()
                    wanted = sorted(self._wanted)
                    waiters = [self._confirmation(name) for name in wanted]
                    for start in range(0, len(wanted), 1000):
                        connection.send(b"SUBSCRIBE", *wanted[start : start + 1000])
                    await asyncio.gather(*waiters)
            except BaseException:
                self.close(keep_wanted=True)
                raise
            return connection

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        address = self._address
        host = address.hostname or "localhost"
        _, connection = await loop.create_connection(
            lambda: _Connection(self),
            host,
            address.port or 6379,
            ssl=address.scheme == "rediss" or None,
        )
        self._connection = connection
        if address.password is not None:
            credentials = [unquote(address.password).encode()]
            if address.username:
                credentials.insert(0, unquote(address.username).encode())
            waiter: asyncio.Future[object] = loop.create_future()
            connection.replies.append(waiter)
            connection.send(b"AUTH", *credentials)
            answer = await waiter
            if isinstance(answer, Exception):
                raise ConnectionError(f"the pub/sub connection's AUTH failed: {answer}")
        return connection

    def close(self, keep_wanted: bool = False) -> None:
        if not keep_wanted:
            self._wanted.clear()
        self._fail_confirmations()
        connection, self._connection = self._connection, None
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    def _confirmation(self, name: bytes) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirming.setdefault(name, []).append(waiter)
        return waiter

    # --- from the connection -------------------------------------------------------------
    def reply(self, connection: _Connection, reply: object) -> None:
        if isinstance(reply, list) and len(reply) == 3:
            kind = reply[0]
            if kind == b"message":
                try:
                    self._on_message(reply[2])
                except Exception:
                    logger.exception("a pushed message could not be handled")
                return
            if kind == b"subscribe":
                for confirmed in self._confirming.pop(reply[1], ()):
                    if not confirmed.done():
                        confirmed.set_result(None)
                return
            if kind == b"unsubscribe":
                return
        if connection.replies:
            waiter = connection.replies.pop(0)
            if not waiter.done():
                waiter.set_result(reply)
            return
        logger.warning("pub/sub connection: unexpected reply %r", reply)

    def lost(self, connection: _Connection, exc: Exception | None) -> None:
        if connection is not self._connection:
            return
        self._connection = None
        self._fail_confirmations()
        self._on_lost(exc)

    def _fail_confirmations(self) -> None:
        for waiters in self._confirming.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(ConnectionError("the pub/sub connection was lost"))
                    waiter.exception()  # retrieved: a waiter nobody awaits any more is no error
        self._confirming.clear()
