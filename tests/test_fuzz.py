"""Property-based fuzzing of both socket endpoints against a real gateway.

Every frame gets valid events or a typed ``error``; the socket keeps working (a ``ping``
after each frame is answered), only ``too_large`` closes it (with 1009), and the gateway's
log has no traceback. The gateway runs on its own Redis database with no worker, so jobs
the fuzzer manages to submit just wait in a queue nobody reads.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support import Gateway, start_gateway

pytestmark = pytest.mark.slow

# Frames are sent in batches (one example = up to 40 frames, then a ping): 10,000+ frames.
FRAMES = int(os.environ.get("TASKGATE_FUZZ_FRAMES", "10000"))
BATCH = 40
EXAMPLES = max(10, FRAMES * 6 // (5 * BATCH))
EVENTS = {"accepted", "snapshot", "queued", "running", "progress", "retrying", "success",
          "failure", "cancelled", "error", "pong"}  # fmt: skip
CODES = {"invalid_json", "invalid_message", "unknown_job", "invalid_params", "not_found",
         "forbidden", "rate_limited", "limit_exceeded", "unavailable", "too_large"}  # fmt: skip
FRAME_LIMIT = 8192


@pytest.fixture(scope="module")
def fuzz_gateway(base_env: dict[str, str], redis_url: str, logs_dir: Path) -> Iterator[Gateway]:
    db4 = redis_url.rsplit("/", 1)[0] + "/4"
    env = dict(base_env, REDIS_URL=db4, TASKGATE_MAX_FRAME_BYTES=str(FRAME_LIMIT))
    gateway = start_gateway(env, logs_dir, name="gateway-fuzz")
    yield gateway
    gateway.proc.stop()
    log = gateway.proc.log()
    assert "Traceback" not in log, log[-5000:]
    assert "request failed" not in log


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
ops = (
    st.sampled_from(["submit", "watch", "unwatch", "cancel", "ping"])
    | st.text(max_size=10)
    | json_values
)
requests = st.fixed_dictionaries(
    {"op": ops},
    optional={
        "job": st.sampled_from(["demo.echo", "demo.fail", "nope"]) | json_values,
        "params": st.fixed_dictionaries(
            {}, optional={"task_id": json_values, "seconds": json_values}
        )
        | json_values,
        "job_id": st.text(max_size=80) | json_values,
        "after": st.integers(min_value=-5, max_value=2**64) | json_values,
        "ref": st.text(max_size=80) | json_values,
        "task_id": json_values,
    },
).map(json.dumps)
deep = st.integers(min_value=1, max_value=4000).map(lambda n: "[" * n + "]" * n)
huge_number = st.integers(min_value=1, max_value=8000).map(
    lambda n: '{"op": "watch", "after": 1' + "0" * n + "}"
)
oversized = st.integers(min_value=FRAME_LIMIT - 200, max_value=FRAME_LIMIT + 200).map(
    lambda n: json.dumps({"op": "ping", "pad": "x" * n})
)
frames = (
    requests
    | json_values.map(json.dumps)
    | st.text(max_size=200)
    | st.binary(max_size=200)
    | deep
    | huge_number
)
# A batch: 40 frames, sometimes followed by one near (or over) the size limit, which closes.
batches = st.tuples(st.lists(frames, min_size=BATCH, max_size=BATCH), st.none() | oversized).map(
    lambda pair: [*pair[0], *([pair[1]] if pair[1] is not None else [])]
)


class Session:
    """One socket, reopened only after a ``too_large`` close."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: ClientConnection | None = None
        self.pings = 0
        self.sent = 0

    def socket(self) -> ClientConnection:
        if self.ws is None:
            self.ws = connect(self.url, open_timeout=10, max_size=None, legacy=True)
        return self.ws

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()

    def exchange(self, batch: list[str | bytes]) -> None:
        ws = self.socket()
        oversized = False
        for frame in batch:
            ws.send(frame)
            self.sent += 1
            if len(frame) > FRAME_LIMIT:
                oversized = True  # the server answers too_large and closes: stop here
                break
        self.pings += 1
        ref = f"fuzz-{self.pings}"
        with contextlib.suppress(ConnectionClosed):
            ws.send(json.dumps({"op": "ping", "ref": ref}))
        while True:
            try:
                event: dict[str, Any] = json.loads(ws.recv(timeout=10))
            except ConnectionClosed as closed:
                close_code = closed.rcvd.code if closed.rcvd is not None else -1
            else:
                close_code = 0
            if close_code:
                assert close_code == 1009  # only too_large closes the socket
                self.ws = None
                return
            assert isinstance(event, dict)
            assert event.get("event") in EVENTS, event
            if event["event"] == "error":
                assert event["code"] in CODES, event
                assert isinstance(event["message"], str)
                if event["code"] == "too_large":
                    assert oversized
            if event.get("ref") == ref and event["event"] == "pong":
                return


@pytest.fixture(scope="module")
def fuzz_session(fuzz_gateway: Gateway) -> Iterator[Session]:
    session = Session(f"{fuzz_gateway.ws}/ws/jobs/")
    yield session
    session.close()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(batch=batches)
def test_any_frame_gets_events_or_a_typed_error_and_the_socket_survives(
    fuzz_session: Session, batch: list[str | bytes]
) -> None:
    fuzz_session.exchange(batch)


def test_the_fuzzer_sent_enough_frames(fuzz_session: Session) -> None:
    assert fuzz_session.sent >= FRAMES, fuzz_session.sent


def test_invalid_utf8_text_frame_is_closed_1007_and_the_server_carries_on(
    fuzz_gateway: Gateway,
) -> None:
    with connect(f"{fuzz_gateway.ws}/ws/jobs/") as ws:
        ws.send(b'\xff\xfe{"op": "ping"}', text=True)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1007
    with connect(f"{fuzz_gateway.ws}/ws/jobs/") as ws:
        ws.send('{"op": "ping", "ref": "after"}')
        assert json.loads(ws.recv(timeout=10))["event"] == "pong"


@settings(
    max_examples=max(50, FRAMES // 40),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=frames | oversized)
def test_classic_endpoint_answers_every_frame(fuzz_gateway: Gateway, frame: str | bytes) -> None:
    with connect(f"{fuzz_gateway.ws}/async_task/", open_timeout=10, max_size=None) as ws:
        ws.send(frame)
        answer = json.loads(ws.recv(timeout=10))  # every frame is answered before the close
        assert isinstance(answer, dict)
        assert set(answer) >= {"msg", "flag"}
        assert isinstance(answer["msg"], str)
        assert isinstance(answer["flag"], bool)
