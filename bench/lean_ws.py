"""A lean WebSocket client for the watchers of the push variants (taskgate and celery-progress's
WebSocket mode alike): an asyncio protocol that stamps each frame when its bytes reach this
process (``data_received``) and hands it to a callback in the same turn of the loop.

The ``websockets`` client costs a reader task, a frame queue and a wake-up of the reading
task per message; with 1,000 sockets and 10,000 frames/s in one process that client, not the
server it measures, set the heavy load's tail (its share of the delay split, "written ->
received", was 0.8 s at p99). Server frames are unmasked and, from both servers here, whole
text frames, so reading them is a few slices; pings are answered, fragments joined.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

OnFrame = Callable[[bytes, float], None]
OPEN_TIMEOUT = 60.0  # seconds for the handshake (1,000 sockets open at once)


class LeanSocket(asyncio.Protocol):
    """One client socket: the handshake, then frames to ``on_frame(payload, arrived_at)``."""

    def __init__(self, on_frame: OnFrame) -> None:
        self.on_frame = on_frame
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = b""
        self._handshaken = False
        self._fragments: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        at = time.time()
        buffer = self._buffer + data if self._buffer else data
        if not self._handshaken:
            head, sep, rest = buffer.partition(b"\r\n\r\n")
            if not sep:
                self._buffer = buffer
                return
            status = head.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                self._fail(ConnectionError(f"handshake refused: {status.decode(errors='replace')}"))
                return
            self._handshaken = True
            if not self.opened.done():
                self.opened.set_result(None)
            buffer = rest
        self._buffer = self._frames(buffer, at)

    def _frames(self, buffer: bytes, at: float) -> bytes:
        """Hand every whole frame in ``buffer`` on; the rest waits for more bytes."""
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length, start = second & 0x7F, offset + 2
            if length == 126:
                if size - start < 2:
                    break
                (length,) = struct.unpack_from("!H", buffer, start)
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                (length,) = struct.unpack_from("!Q", buffer, start)
                start += 8
            if size - start < length:
                break
            payload = buffer[start : start + length]
            offset = start + length
            self._frame(first & 0x80, first & 0x0F, payload, at)
        return buffer[offset:]

    def _frame(self, fin: int, opcode: int, payload: bytes, at: float) -> None:
        if opcode == 0x9:  # ping
            self._write(0xA, payload)
        elif opcode == 0x8:  # close: answer it, and the server closes the connection
            self._write(0x8, payload[:2])
        elif opcode in (0x1, 0x2, 0x0):
            if not fin or self._fragments:
                self._fragments.append(payload)
                if not fin:
                    return
                payload, self._fragments = b"".join(self._fragments), []
            self.on_frame(payload, at)

    def _write(self, opcode: int, payload: bytes) -> None:
        """A client frame: masked, as every client frame must be."""
        if self.transport is None or self.transport.is_closing():
            return
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        mask = os.urandom(4)
        # Byte-wise XOR with the repeated key, as one integer operation.
        key = (mask * (size // 4 + 1))[:size]
        masked = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
            size, "little"
        )
        self.transport.write(head + mask + masked)

    def send_text(self, text: str) -> None:
        self._write(0x1, text.encode())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed before the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)


async def lean_connect(url: str, on_frame: OnFrame, cookie: str | None = None) -> LeanSocket:
    """Open a socket at ``url`` (``ws://host:port/path``); frames go to ``on_frame``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: LeanSocket(on_frame), host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path or '/'} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    assert protocol.transport is not None
    protocol.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        async with asyncio.timeout(OPEN_TIMEOUT):
            await protocol.opened
    except BaseException:
        protocol.close()
        raise
    return protocol
