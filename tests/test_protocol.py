"""Parsing client frames into requests (taskgate.protocol.requests)."""

from __future__ import annotations

import pytest

from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError, validation_details
from taskgate.protocol.requests import (
    Cancel,
    Ping,
    Submit,
    Unwatch,
    Watch,
    decode_frame,
    extract_ref,
    parse_request,
)


def test_shorthand_is_a_demo_echo_submit() -> None:
    assert parse_request({"task_id": 1, "ref": "x"}) == Submit(
        job="demo.echo", params={"task_id": 1}, ref="x"
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"op": "ping"}, Ping()),
        ({"op": "submit", "job": "a.b"}, Submit(job="a.b")),
        ({"op": "submit", "job": "a.b", "params": None}, Submit(job="a.b")),
        (
            {"op": "watch", "job_id": "j", "after": 4, "ref": "r"},
            Watch(job_id="j", after=4, ref="r"),
        ),
        ({"op": "unwatch", "job_id": "j"}, Unwatch(job_id="j")),
        ({"op": "cancel", "job_id": "j"}, Cancel(job_id="j")),
    ],
)
def test_valid_requests(payload: dict[str, object], expected: object) -> None:
    assert parse_request(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"op": "watch", "job_id": "j", "after": True},
        {"op": "watch", "job_id": "j", "after": 2**63},
        {"op": "watch", "job_id": "j" * 65},
        {"op": "submit", "job": ""},
        {"op": "ping", "ref": 5},
    ],
)
def test_invalid_requests(payload: object) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_request(payload)
    assert error.value.code is ErrorCode.INVALID_MESSAGE


@pytest.mark.parametrize("text", ["", "{", "NaN", '{"a": Infinity}', "[" * 5000, "1" * 5000])
def test_decode_frame_refuses_what_is_not_json(text: str) -> None:
    with pytest.raises(ProtocolError) as error:
        decode_frame(text)
    assert error.value.code is ErrorCode.INVALID_JSON


def test_error_event_echoes_ref_and_details() -> None:
    error = ProtocolError(ErrorCode.RATE_LIMITED, "slow down", retry_after=0.5, details=[1])
    assert error.event("r1") == {
        "event": "error",
        "code": "rate_limited",
        "message": "slow down",
        "details": [1],
        "retry_after": 0.5,
        "ref": "r1",
    }


def test_extract_ref_ignores_bad_refs() -> None:
    assert extract_ref({"ref": "ok"}) == "ok"
    assert extract_ref({"ref": "x" * 65}) is None
    assert extract_ref([1]) is None


def test_validation_details_name_each_field() -> None:
    details = validation_details([{"loc": ("a", 0), "msg": "bad"}, {"loc": (), "msg": "worse"}])
    assert details == [{"field": "a.0", "message": "bad"}, {"field": "params", "message": "worse"}]
