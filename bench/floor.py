"""This machine's floor, measured in the same run as the real workers: the same chain of
processes as a pushed event takes, with nothing in them but passing a timestamp on.

- ``through Redis``: a sender (a job's process: blocking, idle between messages) ``PUBLISH``es
  the time through the run's Redis to a relay (a gateway's process: uvloop, its own pub/sub
  connection parsed with hiredis), which writes it to a TCP socket read by this process (the
  watchers' process, on its own loop), where it is stamped on arrival.
- ``sender to relay``: the same without Redis, the sender's datagram straight to the relay:
  the least any push through a gateway process of its own can take here.

Messages go every ``interval`` seconds, as the light load's reports do, so each process
has slept in between. The delay of each is arrival minus the sender's time, p50 and p99.

``python -m bench.floor relay|sender ...`` are the two processes; :func:`measure_floor` runs
them.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import socket
import time
from typing import Any, cast

import hiredis
import redis as redis_py
import uvloop

from bench.procs import PYTHON, BenchEnv
from bench.stats import percentile
from taskgate.cli.redis_server import free_port

PATHS = ("through Redis", "sender to relay")
CHANNEL = b"bench-floor"


class _Relay:
    """Forwards every message (a pub/sub message or a datagram) to the connected readers."""

    def __init__(self) -> None:
        self.readers: list[asyncio.Transport] = []

    def forward(self, data: bytes) -> None:
        for transport in self.readers:
            transport.write(data + b"\n")


class _Reader(asyncio.Protocol):
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.relay.readers.append(cast(asyncio.Transport, transport))


class _Subscription(asyncio.Protocol):
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay
        self.parser = hiredis.Reader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        command: Any = (b"SUBSCRIBE", CHANNEL)  # its stub types a 1-tuple
        cast(asyncio.Transport, transport).write(hiredis.pack_command(command))

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        while (reply := self.parser.gets()) is not False:
            if isinstance(reply, list) and reply[0] == b"message":
                self.relay.forward(reply[2])


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.relay.forward(data)


async def _relay(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    relay = _Relay()
    await loop.create_server(lambda: _Reader(relay), "127.0.0.1", args.port)
    if args.redis_port:
        await loop.create_connection(lambda: _Subscription(relay), "127.0.0.1", args.redis_port)
    else:
        await loop.create_datagram_endpoint(
            lambda: _Datagrams(relay), local_addr=("127.0.0.1", args.udp_port)
        )
    await asyncio.Future()  # until stopped


def _sender(args: argparse.Namespace) -> None:
    time.sleep(max(0.0, args.start_at - time.time()))
    if args.redis_port:
        client = redis_py.Redis(port=args.redis_port)
        connection: Any = client.connection_pool.make_connection()
        connection.connect()
        for _ in range(args.count):
            time.sleep(args.interval)
            command: Any = (b"PUBLISH", CHANNEL, repr(time.time()).encode())
            connection.send_packed_command([hiredis.pack_command(command)])
            connection.read_response()
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(args.count):
            time.sleep(args.interval)
            sock.sendto(repr(time.time()).encode(), ("127.0.0.1", args.udp_port))


class _Stamps(asyncio.Protocol):
    """This process's end: each line's delay, stamped when its bytes arrive."""

    def __init__(self, count: int) -> None:
        self.delays: list[float] = []
        self.count = count
        self.buffer = b""
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        self.delays.extend(arrived - float(line) for line in lines)
        if len(self.delays) >= self.count and not self.done.done():
            self.done.set_result(None)


def _same(protocol: _Stamps) -> _Stamps:
    return protocol


async def measure_floor(env: BenchEnv, count: int, interval: float) -> dict[str, Any]:
    """``{path: {"p50_ms", "p99_ms", "messages"}}`` for both chains, one after the other."""
    assert env.redis is not None
    loop = asyncio.get_running_loop()
    out: dict[str, Any] = {}
    for path in PATHS:
        port, udp_port = free_port(), free_port()
        via = ["--redis-port", str(env.redis.port)] if path == PATHS[0] else []
        via += ["--udp-port", str(udp_port)]
        relay = env.spawn(
            "floor-relay", [PYTHON, "-m", "bench.floor", "relay", "--port", str(port), *via]
        )
        try:
            stamps = _Stamps(count)
            for _ in range(100):  # the relay's port opens within a second or so
                try:
                    await loop.create_connection(
                        functools.partial(_same, stamps), "127.0.0.1", port
                    )
                    break
                except OSError:
                    await asyncio.sleep(0.05)  # start-up wait
            start_at = time.time() + 1.0
            argv = [PYTHON, "-m", "bench.floor", "sender", "--count", str(count)]
            argv += ["--interval", str(interval), "--start-at", str(start_at), *via]
            sender = env.spawn("floor-sender", argv)
            try:
                async with asyncio.timeout(count * interval + 30):
                    await stamps.done
            except TimeoutError:
                pass
            finally:
                env.stop(sender)
        finally:
            env.stop(relay)
        delays = sorted(stamps.delays)
        out[path] = {
            "p50_ms": percentile(delays, 50) * 1e3,
            "p99_ms": percentile(delays, 99) * 1e3,
            "messages": len(delays),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("role", choices=("relay", "sender"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--redis-port", type=int, default=0)
    parser.add_argument("--udp-port", type=int, default=0)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--start-at", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.role == "relay":
        uvloop.run(_relay(args))
    else:
        _sender(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
