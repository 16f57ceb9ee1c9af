"""Many ``group_send``s in one Redis round trip: the one module built on channels-redis internals.

With channels-redis's pub/sub layer, ``group_send`` is one ``PUBLISH`` of the serialized
message on the group's Redis channel, and the layer sends them one at a time (a lock per
shard). :class:`BatchSender` sends the same ``PUBLISH``es, named and serialized by the layer
itself, in one pipeline per shard. To do so it uses private members of channels-redis
(:data:`REQUIRED`); :func:`pipelining_supported` checks them once, and if the installed
version lacks one it logs one warning naming it, and every event goes through the public
``group_send`` instead (correct, one round trip per event). pyproject bounds channels-redis
to the minor version this was tested with.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, NamedTuple, TypeGuard
from urllib.parse import SplitResult, urlsplit

import msgpack
import orjson
from channels_redis import pubsub, serializers
from channels_redis.utils import decode_hosts

from taskgate.contract.keys import group_name
from taskgate.contract.wire import JsonObject

logger = logging.getLogger(__name__)

SEND_TIMEOUT = 5.0

# (class, member) pairs this module relies on; all private but ``serialize``.
REQUIRED: tuple[tuple[type, str], ...] = (
    (pubsub.RedisPubSubChannelLayer, "_get_layer"),
    (pubsub.RedisPubSubChannelLayer, "serialize"),
    (pubsub.RedisPubSubLoopLayer, "_get_group_channel_name"),
    (pubsub.RedisPubSubLoopLayer, "_get_shard"),
    (pubsub.RedisSingleShardConnection, "_ensure_redis"),
)


def missing_members(required: tuple[tuple[type, str], ...] = REQUIRED) -> list[str]:
    """What :class:`BatchSender` needs that the installed channels-redis does not have."""
    return [f"{cls.__name__}.{name}" for cls, name in required if not hasattr(cls, name)]


@functools.cache
def pipelining_supported() -> bool:
    """Whether the installed channels-redis has what :class:`BatchSender` pipelines with."""
    missing = missing_members()
    if missing:
        logger.warning(
            "channels-redis %s lacks %s: events are sent one group_send at a time "
            "(slower, still correct); taskgate was tested with channels-redis 4.3",
            getattr(pubsub, "__version__", "?"),
            ", ".join(missing),
        )
        return False
    return True


class BatchSender:
    """Sends batches of job events to their groups; ``on_failure(count)`` counts lost pushes."""

    def __init__(self, layer: Any, on_failure: Callable[[int], None]) -> None:
        self._layer = layer
        self._on_failure = on_failure
        self._pipelined = isinstance(layer, pubsub.RedisPubSubChannelLayer) and (
            pipelining_supported()
        )

    async def send(self, batch: list[tuple[str, JsonObject]]) -> None:
        try:
            if self._pipelined:
                async with asyncio.timeout(SEND_TIMEOUT):
                    await self._publish_pipelined(batch)
            else:
                for job_id, event in batch:
                    async with asyncio.timeout(SEND_TIMEOUT):
                        await self._layer.group_send(group_name(job_id), _message(event))
        except Exception as exc:
            # At-most-once by design: the gateway's fallback poll repairs a lost push.
            self._on_failure(len(batch))
            logger.warning("push of %d events failed: %r", len(batch), exc)

    async def connect(self) -> None:
        """Open the connection a send will use (best effort: a send connects anyway)."""
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                if self._pipelined:
                    layer = self._layer._get_layer()
                    for shard in getattr(layer, "_shards", ()):  # best effort
                        shard._ensure_redis()
                        await shard._redis.ping()
        except Exception as exc:
            logger.debug("layer connection not opened ahead: %r", exc)

    async def _publish_pipelined(self, batch: list[tuple[str, JsonObject]]) -> None:
        layer = self._layer._get_layer()  # the layer of this event loop
        pipes: dict[Any, Any] = {}  # shard -> its pipeline
        for job_id, event in batch:
            channel = layer._get_group_channel_name(group_name(job_id))
            shard = layer._get_shard(channel)
            if shard not in pipes:
                shard._ensure_redis()
                pipes[shard] = shard._redis.pipeline(transaction=False)
            pipes[shard].publish(channel, self._layer.serialize(_message(event)))
        for pipe in pipes.values():
            await pipe.execute()


def _message(event: JsonObject) -> JsonObject:
    return {"type": "job.event", "event": event}


class DirectRoute:
    """How the store script itself publishes an event as the layer would (one round trip).

    Only made (:func:`direct_route`) where that is the same message on the same server: a
    pub/sub layer with one host, the result backend's Redis, no encryption and no random
    prefix. Pub/sub channels are the same in every database of a server.

    The message is a job's frame as the gateway writes it to sockets (JSON, made once by the
    worker): ``{"type": "job.frame", "frame": <the frame, binary>}``, plus the worker span's
    ``traceparent`` when tracing is on. The script writes the frame, as msgpack's binary of
    its size, after :meth:`message_head`.
    """

    def __init__(self, layer: Any) -> None:
        self._prefix = layer_prefix(layer)

    def channel(self, job_id: str) -> str:
        return group_channel(self._prefix, job_id)

    def message_head(self, traceparent: str | None) -> bytes:
        """The layer's message up to the frame (the frame's size and bytes follow)."""
        return PLAIN_HEAD if traceparent is None else message_head(traceparent)


def message_head(traceparent: str | None) -> bytes:
    """msgpack of ``{"type": "job.frame", ["traceparent": ...,] "frame": ...}`` up to the
    frame's value (a map's members may come in any order; the frame's is last)."""
    members: list[tuple[str, str]] = [("type", FRAME_MESSAGE)]
    if traceparent is not None:
        members.append(("traceparent", traceparent))
    parts = [bytes((0x80 | (len(members) + 1),))]
    parts += [msgpack.packb(part) for member in members for part in member]
    parts.append(msgpack.packb("frame"))
    return b"".join(parts)


FRAME_MESSAGE = "job.frame"


# The head of every push made with tracing off (made once): the store script's messages, and
# what the gateway reads them by (:func:`plain_frame`).
PLAIN_HEAD = message_head(None)


class Pushed(NamedTuple):
    """A job event as a layer message carried it: the event, and the frame it came as (the
    store script's push) with its worker span's ``traceparent`` (tracing on). A named tuple:
    one is made per pushed event, in the gateway's reader."""

    event: JsonObject
    frame: bytes | None = None
    traceparent: str | None = None


def pushed_event(message: object) -> Pushed | None:
    """The job event in a layer message (``job.frame`` or ``job.event``); None for any
    other message, or one that is not well formed (logged)."""
    if not isinstance(message, dict):
        return None
    kind = message.get("type")
    if kind == FRAME_MESSAGE:
        frame = message.get("frame")
        if not isinstance(frame, bytes):
            return None
        traceparent = message.get("traceparent")
        return pushed_frame(frame, traceparent if isinstance(traceparent, str) else None)
    if kind == "job.event":
        event = message.get("event")
        if _is_event(event):
            return Pushed(event)
    return None


def pushed_frame(frame: bytes, traceparent: str | None = None) -> Pushed | None:
    """The job event of a pushed frame; None for one that is not an event (logged)."""
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError:
        logger.warning("a pushed frame is not JSON: %r", frame[:80])
        return None
    return Pushed(event, frame, traceparent) if _is_event(event) else None


# Bytes of the size after each of msgpack's binary markers (bin 8, 16, 32).
_BIN_SIZE_BYTES = {0xC4: 1, 0xC5: 2, 0xC6: 4}


def plain_frame(data: bytes) -> bytes | None:
    """The frame of a serialized ``job.frame`` message without a traceparent, read without
    msgpack (its map's head is known: :func:`message_head`, then the frame as msgpack's
    binary); None for any other message, which the layer's codec then reads. After 100 ms
    idle, msgpack's reading was 0.02 ms of the gateway's 0.14 before it wrote a push
    (docs/benchmarks.md, round 6)."""
    at = len(PLAIN_HEAD)  # where the frame's binary marker is
    if len(data) <= at or not data.startswith(PLAIN_HEAD):
        return None
    size_bytes = _BIN_SIZE_BYTES.get(data[at])
    if size_bytes is None:
        return None
    start = at + 1 + size_bytes
    if len(data) < start or int.from_bytes(data[at + 1 : start]) != len(data) - start:
        return None
    return data[start:]


def _is_event(event: object) -> TypeGuard[JsonObject]:
    return isinstance(event, dict) and isinstance(event.get("job_id"), str)


class _Prefixed:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix


Codec = tuple[Callable[[Any], bytes], Callable[[bytes], Any]]


def message_codec(layer: Any) -> Codec:
    """How the layer serializes and deserializes a message: msgpack's own functions where
    its serializer is channels-redis' plain msgpack one (no encryption, no random prefix:
    then that is all it does, and the layer's two calls around it cost as much again on a
    cold path), else the layer's methods."""
    if plain_msgpack(layer):
        return msgpack.packb, msgpack.unpackb
    return layer.serialize, layer.deserialize


def plain_msgpack(layer: Any) -> bool:
    """Whether the layer's serializer is channels-redis' msgpack one, plain."""
    serializer = getattr(layer, "_serializer", None)
    return type(serializer) is serializers.MsgPackSerializer and _plain(serializer)


def _plain(serializer: object) -> bool:
    """Whether a channels-redis serializer neither encrypts nor prefixes what it makes."""
    return not getattr(serializer, "crypter", True) and not getattr(
        serializer, "random_prefix_length", 1
    )


def plain_pubsub_address(layer: Any) -> SplitResult | None:
    """The one Redis (a ``redis://`` URL) of a channels-redis pub/sub layer whose messages
    are plain (no encryption, no random prefix); None for any other layer or set-up.

    Where this holds, a message on a group's channel can be made (the store script) and read
    (the gateway's own subscriber) without the layer, and be the same message."""
    if not isinstance(layer, pubsub.RedisPubSubChannelLayer):
        return None
    if missing_members(((pubsub.RedisPubSubLoopLayer, "_get_group_channel_name"),)):
        return None
    if not _plain(getattr(layer, "_serializer", None)):
        return None
    hosts = decode_hosts(layer._kwargs.get("hosts") or layer._args[:1] or None)
    if len(hosts) != 1 or "address" not in hosts[0]:
        return None
    address = urlsplit(str(hosts[0]["address"]))
    if address.scheme not in ("redis", "rediss") or not address.hostname:
        return None
    return address


def layer_prefix(layer: Any) -> str:
    """The prefix of the layer's channel names."""
    return str(layer._kwargs.get("prefix", "asgi"))


def group_channel(prefix: str, job_id: str) -> str:
    """The Redis channel of a job's group, named by channels-redis' own method."""
    holder = _Prefixed(prefix)
    return str(pubsub.RedisPubSubLoopLayer._get_group_channel_name(holder, group_name(job_id)))


def direct_route(layer: Any, result_host: tuple[str, int] | None) -> DirectRoute | None:
    """A :class:`DirectRoute` if ``layer`` publishes plain msgpack on ``result_host``, as the
    store script can; else None (events then go through the publisher thread)."""
    address = plain_pubsub_address(layer)
    if result_host is None or address is None or address.hostname is None:
        return None
    if not plain_msgpack(layer):  # the script writes msgpack
        return None
    if (_loopback(address.hostname), address.port or 6379) != (
        _loopback(result_host[0]),
        result_host[1],
    ):
        return None
    return DirectRoute(layer)


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("localhost", "::1", "127.0.0.1") else host
