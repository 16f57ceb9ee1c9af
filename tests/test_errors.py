"""Every error code the v1 socket can produce, each leaving the socket usable (but too_large)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import DEAD_REDIS_URL
from tests.support import Gateway, client, start_gateway

WS = "/ws/jobs/"


def _has_ref(ref: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("ref") == ref


def _error(answer: dict[str, object], code: str) -> dict[str, object]:
    assert answer["event"] == "error", answer
    assert answer["code"] == code, answer
    assert isinstance(answer["message"], str)
    assert answer["message"]
    return answer


@pytest.mark.parametrize(
    "frame",
    ["not json", "{'single': 'quotes'}", '{"op": "ping"', '{"x": NaN}', "[" * 2000 + "]" * 2000],
)
def test_invalid_json(gateway: Gateway, frame: str) -> None:
    with client(gateway.ws + WS, max_size=None) as c:
        c.send(frame)
        _error(c.recv(), "invalid_json")
        c.ping()


@pytest.mark.parametrize(
    "frame",
    [
        [1, 2],
        "a string",
        42,
        None,
        {},
        {"op": "launch"},
        {"op": 7},
        {"op": "submit"},
        {"op": "submit", "job": "demo.echo", "params": [1]},
        {"op": "watch"},
        {"op": "watch", "job_id": 12},
        {"op": "watch", "job_id": "x", "after": "3"},
        {"op": "watch", "job_id": "x", "after": -1},
        {"op": "ping", "ref": "r" * 65},
        {"op": "cancel", "job_id": ""},
    ],
)
def test_invalid_message(gateway: Gateway, frame: object) -> None:
    with client(gateway.ws + WS) as c:
        c.send(__import__("json").dumps(frame))
        _error(c.recv(), "invalid_message")
        c.ping()


def test_binary_frame_is_an_invalid_message(gateway: Gateway) -> None:
    with client(gateway.ws + WS) as c:
        c.send(b'{"op": "ping"}')
        _error(c.recv(), "invalid_message")
        c.ping()


def test_unknown_job(gateway: Gateway) -> None:
    with client(gateway.ws + WS) as c:
        answer = _error(c.request({"op": "submit", "job": "no.such.job"}), "unknown_job")
        assert answer["ref"]
        c.ping()


def test_invalid_params_lists_each_field(gateway: Gateway) -> None:
    with client(gateway.ws + WS) as c:
        answer = _error(
            c.request({"op": "submit", "job": "demo.echo", "params": {"seconds": 601, "extra": 1}}),
            "invalid_params",
        )
        details: list[dict[str, str]] = answer["details"]  # type: ignore[assignment]
        fields = {d["field"] for d in details}
        assert fields == {"task_id", "seconds", "extra"}
        c.ping()


def test_not_found(gateway: Gateway) -> None:
    with client(gateway.ws + WS) as c:
        _error(c.request({"op": "watch", "job_id": "no-such-job"}), "not_found")
        _error(c.request({"op": "cancel", "job_id": "no-such-job"}), "not_found")
        c.ping()


def test_forbidden_for_another_connections_job(gateway: Gateway) -> None:
    with client(gateway.ws + WS) as owner, client(gateway.ws + WS) as other:
        job_id = owner.submit("demo.echo", {"task_id": 1, "seconds": 0.2})
        _error(other.request({"op": "watch", "job_id": job_id}), "forbidden")
        _error(other.request({"op": "cancel", "job_id": job_id}), "forbidden")
        other.ping()
        assert owner.until_terminal(job_id)[-1]["event"] == "success"


def test_rate_limited_submits_carry_retry_after(gateway: Gateway) -> None:
    # The shared gateway allows a burst of 10 submits per socket, then 5 per second.
    with client(gateway.ws + WS) as c:
        for i in range(12):
            c.send({"op": "submit", "job": "no.such.job", "ref": f"s{i}"})
        answers = [c.recv_until(_has_ref(f"s{i}"))[-1] for i in range(12)]
        codes = [a["code"] for a in answers]
        assert codes[:10] == ["unknown_job"] * 10
        assert "rate_limited" in codes[10:]
        limited = next(a for a in answers if a["code"] == "rate_limited")
        assert 0 < limited["retry_after"] <= 1
        c.ping()


def test_limit_exceeded_on_too_many_watches(gateway: Gateway) -> None:
    # The shared gateway allows 6 watched jobs per socket.
    with client(gateway.ws + WS) as c:
        jobs = [c.submit("demo.echo", {"task_id": i, "seconds": 30}) for i in range(6)]
        answer = _error(
            c.request({"op": "submit", "job": "demo.echo", "params": {"task_id": 7}}),
            "limit_exceeded",
        )
        assert "6" in str(answer["message"])
        c.send({"op": "unwatch", "job_id": jobs[0]})
        c.ping()
        for job_id in jobs:
            c.send({"op": "cancel", "job_id": job_id})
        # An unwatched job sends nothing more; the others end cancelled.
        for job_id in jobs[1:]:
            assert c.until_terminal(job_id, timeout=60)[-1]["event"] == "cancelled"


def test_too_large_closes_with_1009(gateway: Gateway) -> None:
    with client(gateway.ws + WS) as c:
        c.send({"op": "ping", "pad": "x" * 5000})
        _error(c.recv(), "too_large")
        with pytest.raises(ConnectionClosed) as closed:
            c.recv(timeout=5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009


@pytest.fixture(scope="module")
def gateway_without_redis(base_env: dict[str, str], logs_dir: Path) -> Iterator[Gateway]:
    env = dict(base_env, REDIS_URL=DEAD_REDIS_URL, TASKGATE_REDIS_CONNECT_TIMEOUT="0.5")
    gw = start_gateway(env, logs_dir, name="gateway-no-redis", ready=False)
    yield gw
    gw.proc.stop()


def test_unavailable_when_redis_is_down(gateway_without_redis: Gateway) -> None:
    with client(gateway_without_redis.ws + WS) as c:
        answer = _error(
            c.request({"op": "submit", "job": "demo.echo", "params": {"task_id": 1}}, timeout=20),
            "unavailable",
        )
        assert "not dispatched" in str(answer["message"])
        _error(c.request({"op": "watch", "job_id": "some-job"}, timeout=20), "unavailable")
        c.ping()
