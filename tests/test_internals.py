"""The modules built on private members of uvicorn and channels-redis check them.

On the versions pyproject allows, nothing is missing (a release that renames one fails
here, loudly, instead of quietly sending every frame the slow way or every push through the
fallback poll). Against a class that lacks the members, each check names what is missing.
"""

from __future__ import annotations

import msgpack
import pytest
from channels_redis import pubsub
from channels_redis.serializers import MsgPackSerializer
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

from taskgate.events import layer_pipeline
from taskgate.serve import uvicorn_http, uvicorn_members, uvicorn_websocket


def test_the_installed_uvicorn_has_what_the_direct_writes_use() -> None:
    assert uvicorn_websocket.missing_members(WebSocketsSansIOProtocol) == []
    assert uvicorn_websocket.direct_writes_supported()
    assert uvicorn_websocket.light_inbox_supported()


def test_a_uvicorn_that_uses_more_of_its_queue_keeps_asyncios_own() -> None:
    class Drains(WebSocketsSansIOProtocol):
        def drain(self) -> None:
            self.queue.get_nowait()

    assert not uvicorn_websocket.light_inbox_supported(Drains)


def test_a_uvicorn_without_those_members_is_named_member_by_member() -> None:
    class Renamed(WebSocketsSansIOProtocol):
        handle_connect = None  # type: ignore[assignment]

    stripped = type("Stripped", (), {"send": lambda self: None})
    assert uvicorn_websocket.missing_members(Renamed) == ["handle_connect"]
    missing = uvicorn_websocket.missing_members(stripped)
    assert "writable" in missing
    assert "handle_parser_exception" in missing
    assert "send" not in missing


def test_the_installed_uvicorn_has_what_the_connection_limits_use() -> None:
    assert (
        uvicorn_members.missing_members(
            HttpToolsProtocol, uvicorn_http.REQUIRED_METHODS, uvicorn_http.REQUIRED_ATTRIBUTES
        )
        == []
    )
    assert uvicorn_http.connection_limits_supported()
    stripped = type("Stripped", (), {"connection_made": lambda self: None})
    missing = uvicorn_members.missing_members(
        stripped, uvicorn_http.REQUIRED_METHODS, uvicorn_http.REQUIRED_ATTRIBUTES
    )
    assert "on_headers_complete" in missing
    assert "transport" in missing
    assert "connection_made" not in missing


def test_the_installed_channels_redis_has_what_the_pipeline_uses() -> None:
    assert layer_pipeline.missing_members() == []
    assert layer_pipeline.pipelining_supported()


def test_a_channels_redis_without_those_members_is_named() -> None:
    gone = ((pubsub.RedisPubSubLoopLayer, "_get_shard_renamed"),)
    assert layer_pipeline.missing_members(gone) == ["RedisPubSubLoopLayer._get_shard_renamed"]


def test_the_installed_websockets_has_what_the_own_framing_checks() -> None:
    assert uvicorn_websocket.own_framing_supported()


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_a_text_framed_here_is_the_frame_websockets_makes(length: int) -> None:
    payload = b"x" * length
    made = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert uvicorn_websocket.text_frame(payload) == made


def test_the_plain_msgpack_serializer_is_used_as_msgpack_itself() -> None:
    """Where the layer's serializer is channels-redis' plain msgpack one, the gateway and the
    store script's message use msgpack's functions; the bytes are the layer's."""

    class Layer:
        def __init__(self, serializer: object) -> None:
            self._serializer = serializer

        def serialize(self, message: object) -> bytes:
            raise AssertionError("not used")

        def deserialize(self, data: bytes) -> object:
            raise AssertionError("not used")

    message = {"type": "job.event", "event": {"seq": 2**64 - 1, "job_id": "j"}}
    plain = MsgPackSerializer()
    pack, unpack = layer_pipeline.message_codec(Layer(plain))
    assert (pack, unpack) == (msgpack.packb, msgpack.unpackb)
    assert pack(message) == plain.serialize(message)
    assert unpack(plain.serialize(message)) == message

    prefixed = Layer(MsgPackSerializer(random_prefix_length=4))
    assert layer_pipeline.message_codec(prefixed) == (prefixed.serialize, prefixed.deserialize)


def test_a_layer_message_is_read_as_a_job_event_only_when_well_formed() -> None:
    pushed = layer_pipeline.pushed_event
    frame = b'{"event":"progress","job_id":"j","seq":3,"ts":"t","progress":{}}'
    got = pushed({"type": "job.frame", "frame": frame, "traceparent": "00-ab-cd-01"})
    assert got is not None
    assert got.event["seq"] == 3
    assert got.frame is frame  # written to sockets as it came
    assert got.traceparent == "00-ab-cd-01"
    event = {"event": "success", "job_id": "j", "seq": 4}
    assert pushed({"type": "job.event", "event": event}) == (event, None, None)
    for bad in (
        {"type": "job.frame", "frame": b"not json"},
        {"type": "job.frame", "frame": b'{"seq": 3}'},  # no job_id
        {"type": "job.frame", "frame": "a str, not bytes"},
        {"type": "job.event", "event": ["not", "an", "object"]},
        {"type": "taskgate.probe", "nonce": "x"},
        ["not", "a", "message"],
    ):
        assert pushed(bad) is None


def test_the_frame_message_head_is_msgpack_of_the_message_up_to_its_frame() -> None:
    frame = b'{"event":"progress"}'
    for traceparent in (None, "00-ab-cd-01"):
        head = layer_pipeline.message_head(traceparent)
        # What the store script appends: msgpack's binary of the frame's size, then the frame.
        message = msgpack.unpackb(head + bytes((0xC4, len(frame))) + frame)
        expected: dict[str, object] = {"type": "job.frame", "frame": frame}
        if traceparent is not None:
            expected["traceparent"] = traceparent
        assert message == expected


@pytest.mark.parametrize("size", [0, 200, 255, 256, 65535, 65536, 70000])
def test_a_frame_read_without_msgpack_is_the_frame_msgpack_reads(size: int) -> None:
    """The gateway reads an untraced frame message by its known head; any other message (or
    one cut short) is left to the layer's codec."""
    frame = b"f" * size
    message = msgpack.packb({"type": "job.frame", "frame": frame})  # bin 8, 16 or 32
    assert layer_pipeline.plain_frame(message) == frame
    assert layer_pipeline.plain_frame(message[:-1]) is None
    assert layer_pipeline.plain_frame(message + b"x") is None
    traced = msgpack.packb({"type": "job.frame", "traceparent": "00-ab-cd-01", "frame": frame})
    assert layer_pipeline.plain_frame(traced) is None
    # A head of the same length, with a binary where the frame's would be: not a frame.
    other = msgpack.packb({"type": "job.other", "frame": frame})
    assert len(other) == len(message)
    assert layer_pipeline.plain_frame(other) is None
    event = {"type": "job.event", "event": {"seq": 1, "job_id": "j"}}
    assert layer_pipeline.plain_frame(msgpack.packb(event)) is None
    assert layer_pipeline.plain_frame(layer_pipeline.message_head(None)) is None
