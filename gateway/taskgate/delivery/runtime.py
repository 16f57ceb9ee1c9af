"""The per-process pieces of the gateway, made on first use inside the running event loop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from taskgate.backends.state_store import StateStore
from taskgate.config import telemetry
from taskgate.delivery.fallback import FallbackPoller
from taskgate.delivery.hub import Hub
from taskgate.protocol.codes import CloseCode

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    store: StateStore
    hub: Hub
    poller: FallbackPoller

    async def close_connections(self, code: int = CloseCode.GOING_AWAY, wait: float = 2.0) -> None:
        """Close every open socket with ``code`` and give them ``wait`` seconds to go."""
        connections = list(self.hub.connections)
        if not connections:
            return
        logger.info("closing %d open sockets with %d", len(connections), code)
        for watcher in connections:
            watcher.shutdown(code)
        waits = [asyncio.ensure_future(watcher.wait_stopped()) for watcher in connections]
        _, pending = await asyncio.wait(waits, timeout=wait)
        for waiter in pending:
            waiter.cancel()

    async def stop(self) -> None:
        await self.poller.stop()
        await self.hub.stop()
        await self.store.close()


_runtimes: dict[asyncio.AbstractEventLoop, Runtime] = {}


def get_runtime() -> Runtime:
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is None:
        telemetry.setup("taskgate-gateway")  # off unless OTEL_* asks for traces
        store = StateStore()
        hub = Hub()
        runtime = Runtime(store=store, hub=hub, poller=FallbackPoller(hub, store))
        _runtimes[loop] = runtime
        hub.start()
        runtime.poller.start()
    return runtime


def all_runtimes() -> list[Runtime]:
    """Every runtime of this process (one per event loop; one in a served gateway)."""
    return list(_runtimes.values())


def current_runtime() -> Runtime | None:
    """The runtime of the running loop if one was made (no side effects)."""
    try:
        return _runtimes.get(asyncio.get_running_loop())
    except RuntimeError:
        return None
