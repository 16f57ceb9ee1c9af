"""Running the gateway under uvicorn, with a shutdown that closes sockets with 1001.

uvicorn's own shutdown closes WebSockets with 1012 and then waits for them; we first close
every socket with 1001 (going away), as the protocol promises, and stop the runtime.
"""

from __future__ import annotations

import gc
import logging
import socket
from typing import Any

import uvicorn

from taskgate.config import get_config
from taskgate.delivery.runtime import current_runtime
from taskgate.serve.uvicorn_http import connection_limits_supported, raise_descriptor_limit
from taskgate.serve.uvicorn_websocket import direct_writes_supported

logger = logging.getLogger(__name__)


class GatewayServer(uvicorn.Server):
    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        # Everything loaded so far (Django, Celery, the app: several hundred thousand
        # objects) lives as long as the process. Frozen, the collector no longer walks it:
        # a full collection took 70 to 180 ms of a loaded gateway's loop without this,
        # delaying every event waiting behind it (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        # Fewer young collections (every 20,000 allocations instead of 700): objects in flight
        # (events, frames, handles) then die before a collection, instead of being promoted
        # to the old generation and triggering its full walk of every socket's objects.
        gc.set_threshold(get_config().gc_young_threshold, 10, 10)
        logger.debug("%d objects frozen out of garbage collection", gc.get_freeze_count())

    async def shutdown(self, sockets: Any = None) -> None:
        runtime = current_runtime()
        if runtime is not None:
            await runtime.close_connections()
        await super().shutdown(sockets=sockets)
        if runtime is not None:
            await runtime.stop()


def listen(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A listening socket; with ``reuse_port`` several processes share the port and the
    kernel spreads new connections across them (SO_REUSEPORT, Linux and the BSDs)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    host: str,
    port: int,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    reuse_port: bool = False,
    own_port: int | None = None,
) -> None:
    """Serve the gateway until SIGINT/SIGTERM (uvicorn re-raises the signal afterwards).

    ``reuse_port``: share ``port`` with other gateway processes (``taskgate up --gateways``).
    ``own_port``: also listen on a port of this process alone, to reach this very process
    (its ``/metrics``) when ``port`` is shared.
    """
    open_files = raise_descriptor_limit()
    logger.debug("open files limit: %d", open_files)
    config = uvicorn.Config(
        "taskgate.serve.asgi:application",
        host=host,
        port=port,
        lifespan="off",
        # A header timeout and connection caps (taskgate.serve.uvicorn_http).
        http=(
            "taskgate.serve.uvicorn_http:GatewayHttp"
            if connection_limits_supported()
            else "httptools"
        ),
        ws=(
            "taskgate.serve.uvicorn_websocket:GatewayWebSocket"
            if direct_writes_supported()
            else "websockets-sansio"
        ),
        ws_max_size=get_config().ws_max_size,
        ws_per_message_deflate=False,  # costs a lot of memory per socket
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=5,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )
    sockets = [listen(host, port, reuse_port=reuse_port)]
    if own_port:
        sockets.append(listen(host, own_port, reuse_port=False))
    GatewayServer(config).run(sockets=sockets)
