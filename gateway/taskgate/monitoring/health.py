"""``/healthz`` (the process answers) and ``/readyz`` (Redis, broker and channel layer work)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from channels.layers import get_channel_layer
from django.http import HttpRequest, JsonResponse

from taskgate.config.celery_app import celery_app
from taskgate.delivery.runtime import get_runtime

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 3.0


async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


async def readyz(request: HttpRequest) -> JsonResponse:
    checks = await asyncio.gather(_check_redis(), _check_broker(), _check_layer())
    names = ("redis", "broker", "channel_layer")
    results = {name: error or "ok" for name, error in zip(names, checks, strict=True)}
    ready = all(error is None for error in checks)
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )


async def _check_redis() -> str | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await get_runtime().store.client.ping()
    except Exception as exc:
        return f"result backend unreachable: {exc!r}"
    return None


def _broker_ping() -> None:
    with celery_app().connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=int(CHECK_TIMEOUT))


async def _check_broker() -> str | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT + 1):
            await asyncio.to_thread(_broker_ping)
    except Exception as exc:
        return f"broker unreachable: {exc!r}"
    return None


async def layer_round_trip(layer: Any, label: str, step_seconds: float) -> None:
    """Send a message to a fresh channel through the layer and wait for it (raises if not).

    Each of the three steps (new channel, send, receive) gets ``step_seconds``.
    """
    timeout = step_seconds
    async with asyncio.timeout(timeout):
        channel = await layer.new_channel(f"{label}.")
    nonce = uuid.uuid4().hex
    receiver = asyncio.ensure_future(layer.receive(channel))
    try:
        async with asyncio.timeout(timeout):
            await layer.send(channel, {"type": label, "nonce": nonce})
        async with asyncio.timeout(timeout):
            message = await asyncio.shield(receiver)
    finally:
        receiver.cancel()
    if message.get("nonce") != nonce:
        raise RuntimeError("the layer returned a different message")


async def _check_layer() -> str | None:
    layer = get_channel_layer()
    if layer is None:
        return "no channel layer configured"
    try:
        await layer_round_trip(layer, "readyz", CHECK_TIMEOUT)
    except Exception as exc:
        return f"channel layer round trip failed: {exc!r}"
    return None
