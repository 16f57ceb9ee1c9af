"""uvicorn's HTTP protocol with limits at the connection: a header timeout and caps.

uvicorn (0.54) puts no bound on a connection until its first request is complete: an idle
TCP connection, partial headers or a partial WebSocket upgrade stay open as long as the
client likes, and enough of them exhaust the file descriptors (new clients then get a reset,
with nothing logged). :class:`GatewayHttp`, uvicorn's ``httptools`` protocol with:

- a **header timeout** (``TASKGATE_HEADER_TIMEOUT``): from the connection's first moment,
  and from the first byte of each later request, its headers (a WebSocket handshake's
  included) must be complete in time, or the connection gets ``408`` and is closed;
- a **cap per client address** (``TASKGATE_MAX_CONNECTIONS_PER_ADDRESS``) on the open
  connections of one peer, WebSockets included, answered ``429`` (``rate_limited``) when
  the headers arrive. A trusted proxy (uvicorn's ``FORWARDED_ALLOW_IPS``) is not counted:
  each of its clients is, by address, at the socket and event-stream caps;
- a **cap per process** (``TASKGATE_MAX_CONNECTIONS``, by default the file descriptor limit
  less 100 for Redis, the database and files): beyond it, ``503`` (``unavailable``) and a
  warning at most once a minute, instead of resets.

Body limits are the ASGI middleware's (taskgate.serve.body_limit). Like
taskgate.serve.uvicorn_websocket, this relies on members of uvicorn's class
(``REQUIRED_METHODS``/``REQUIRED_ATTRIBUTES``), checked at start-up: if one is missing the
server says so and runs uvicorn's own protocol, without these limits.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import resource
import time
from collections import Counter
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from taskgate.config import get_config
from taskgate.counters import count_refusal
from taskgate.protocol.codes import ErrorCode
from taskgate.serve.uvicorn_members import missing_members

logger = logging.getLogger(__name__)

REQUIRED_METHODS = (
    "connection_made",
    "connection_lost",
    "on_message_begin",
    "on_headers_complete",
    "handle_websocket_upgrade",
)
REQUIRED_ATTRIBUTES = ("transport", "client", "connections", "config", "app", "loop")

# Descriptors kept for what a gateway opens itself (Redis, the database, files).
RESERVED_DESCRIPTORS = 100
_WARN_EVERY = 60.0


@functools.cache
def connection_limits_supported() -> bool:
    """Whether the installed uvicorn has every member :class:`GatewayHttp` uses."""
    missing = missing_members(HttpToolsProtocol, REQUIRED_METHODS, REQUIRED_ATTRIBUTES)
    if missing:
        logger.warning(
            "uvicorn %s lacks %s of HttpToolsProtocol: serving with uvicorn's own HTTP "
            "protocol, without the header timeout and connection caps (taskgate was tested "
            "with uvicorn 0.54)",
            uvicorn.__version__,
            ", ".join(missing),
        )
        return False
    return True


def raise_descriptor_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            logger.debug("could not raise the open-files limit: %r", exc)
    return soft


@functools.cache
def process_cap() -> int:
    configured = get_config().max_connections
    if configured:
        return configured
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, soft - RESERVED_DESCRIPTORS)


class _Trusted:
    """The proxies uvicorn takes ``X-Forwarded-For`` from (``FORWARDED_ALLOW_IPS``)."""

    def __init__(self, allowed: list[str] | str) -> None:
        entries = allowed.split(",") if isinstance(allowed, str) else list(allowed)
        entries = [entry.strip() for entry in entries if entry.strip()]
        self.everyone = "*" in entries
        self.networks = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue  # a literal (a unix socket path): not an address we count

    def __contains__(self, address: str) -> bool:
        if self.everyone:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True
        return any(ip in network for network in self.networks)


class _Book:
    """This process's open connections by client address."""

    def __init__(self) -> None:
        self.open: Counter[str] = Counter()
        self.trusted: _Trusted | None = None
        self.warned = 0.0

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self.warned >= _WARN_EVERY:
            self.warned = now
            logger.warning(message, *args)


BOOK = _Book()


def _response(status: int, reason: str, code: ErrorCode, message: str, retry: bool) -> bytes:
    body = json.dumps({"code": code.value, "message": message}).encode()
    head = [
        f"HTTP/1.1 {status} {reason}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    if retry:
        head.append("retry-after: 1")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _refusal_app(raw: bytes) -> Any:
    """An ASGI app that answers every request with ``raw`` (a whole response)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = [tuple(line.split(b": ", 1)) for line in lines[1:]]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class GatewayHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout and connection caps."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counted: str | None = None
        self._refusal: bytes | None = None
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()
        config = get_config()
        if len(self.connections) > process_cap():
            BOOK.warn(
                "%d connections open, the most this process takes (TASKGATE_MAX_CONNECTIONS): "
                "answering 503",
                len(self.connections) - 1,
            )
            count_refusal(ErrorCode.UNAVAILABLE)
            self._refusal = _response(
                503, "Service Unavailable", ErrorCode.UNAVAILABLE, "too many connections", True
            )
            return
        if not self.client:
            return
        address = str(self.client[0])
        if BOOK.trusted is None:
            BOOK.trusted = _Trusted(self.config.forwarded_allow_ips)
        if address in BOOK.trusted:
            return
        if BOOK.open[address] >= config.max_connections_per_address:
            BOOK.warn(
                "%s has %d connections open, the most one address may "
                "(TASKGATE_MAX_CONNECTIONS_PER_ADDRESS): answering 429",
                address,
                BOOK.open[address],
            )
            count_refusal(ErrorCode.RATE_LIMITED)
            self._refusal = _response(
                429,
                "Too Many Requests",
                ErrorCode.RATE_LIMITED,
                f"at most {config.max_connections_per_address} connections per client address",
                True,
            )
            return
        BOOK.open[address] += 1
        self._counted = address

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        self._release()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        if self._refusal is not None:
            self.app = _refusal_app(self._refusal)
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        if self._refusal is not None:
            self.transport.write(self._refusal)
            self.transport.close()
            return
        counted, self._counted = self._counted, None
        super().handle_websocket_upgrade()
        if counted is not None:
            # The socket's own protocol now owns the connection: it gives the count back.
            protocol = self.transport.get_protocol()
            lost = protocol.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                BOOK.release(counted)
                lost(exc)

            protocol.connection_lost = connection_lost  # type: ignore[method-assign]

    def _release(self) -> None:
        counted, self._counted = self._counted, None
        if counted is not None:
            BOOK.release(counted)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(
            get_config().header_timeout, self._headers_too_slow
        )

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        count_refusal(ErrorCode.INVALID_MESSAGE)
        logger.debug("closing a connection whose headers did not arrive in time: %s", self.client)
        timeout = get_config().header_timeout
        self.transport.write(
            _response(
                408,
                "Request Timeout",
                ErrorCode.INVALID_MESSAGE,
                f"the request's headers did not arrive within {timeout:g} s",
                False,
            )
        )
        self.transport.close()
