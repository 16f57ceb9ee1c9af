"""The classic one-shot endpoint ``/async_task/`` against the real stack."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support import Gateway, client


def _frames_until_close(c: object) -> tuple[list[dict[str, object]], int | None]:
    frames: list[dict[str, object]] = []
    ws = c.ws  # type: ignore[attr-defined]
    try:
        while True:
            frames.append(json.loads(ws.recv(timeout=20)))
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd is not None else None
        return frames, code


def test_classic_flow_runs_the_article_job(gateway: Gateway) -> None:
    with client(f"{gateway.ws}/async_task/") as c:
        c.send({"task_id": 1})
        frames, code = _frames_until_close(c)
    assert len(frames) == 2, frames
    running, outcome = frames
    assert running["msg"] == "Task 1 is running..."
    assert running["flag"] is True
    assert isinstance(running["job_id"], str)
    assert outcome == {"msg": "success", "flag": True, "data": {"result": 1}}
    assert code == 1000


def test_classic_failure_reports_the_error(gateway: Gateway) -> None:
    # seconds above the schema's bound is a parameter problem, reported with flag false.
    with client(f"{gateway.ws}/async_task/") as c:
        c.send({"task_id": 3, "seconds": 601})
        frames, _ = _frames_until_close(c)
    assert frames[0]["flag"] is False
    assert "seconds" in str(frames[0]["msg"])


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("this is not json", "wrong format"),
        ("[1, 2, 3]", "wrong format"),
        ('"just a string"', "wrong format"),
        ('{"seconds": 1}', "missing required parameter: task_id"),
    ],
)
def test_classic_bad_input_gets_flag_false_and_a_close(
    gateway: Gateway, frame: str, expected: str
) -> None:
    with client(f"{gateway.ws}/async_task/") as c:
        c.send(frame)
        frames, code = _frames_until_close(c)
    assert len(frames) == 1
    assert frames[0]["flag"] is False
    assert expected in str(frames[0]["msg"])
    assert code == 1000
