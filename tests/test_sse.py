"""``GET /api/jobs/{id}/events``: pushed events, ``Last-Event-ID`` resume, the end.

The shared gateway's fallback poll runs once an hour, so events that arrive on a stream
while the job runs were pushed through the channel layer.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from tests.support import TERMINAL, EventStream, Gateway, bearer, http_json


@pytest.fixture(scope="module")
def token(make_token: Callable[..., str]) -> str:
    return make_token("sse-user")


def _submit(gateway: Gateway, token: str, seconds: float) -> str:
    status, _, body = http_json(
        "POST",
        f"{gateway.http}/api/jobs",
        {"job": "demo.echo", "params": {"task_id": 7, "seconds": seconds}},
        bearer(token),
    )
    assert status == 202, body
    return str(body["job_id"])


def _ids(events: list[dict[str, Any]]) -> list[int]:
    return [event["id"] for event in events]


def test_events_are_pushed_in_seq_order_and_the_stream_ends_after_the_terminal_one(
    gateway: Gateway, token: str
) -> None:
    job_id = _submit(gateway, token, 1.5)
    stream = EventStream(f"{gateway.http}/api/jobs/{job_id}/events", bearer(token))
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = list(stream.events())
    stream.close()
    assert stream.ended  # the server closed the stream
    kinds = [event["event"] for event in events]
    assert kinds[0] == "snapshot"
    assert "progress" in kinds[1:]  # arrived while the job ran: pushed, not polled
    assert kinds[-1] == "success"
    assert events[-1]["result"] == 7
    assert all(a < b for a, b in itertools.pairwise(_ids(events)))
    assert all(event["id"] == event["seq"] for event in events)
    assert all(event["job_id"] == job_id for event in events)


def test_last_event_id_resumes_after_what_was_seen(gateway: Gateway, token: str) -> None:
    job_id = _submit(gateway, token, 2)
    url = f"{gateway.http}/api/jobs/{job_id}/events"
    first = EventStream(url, bearer(token))
    seen: list[dict[str, Any]] = []
    for event in first.events():
        seen.append(event)
        if [e["event"] for e in seen].count("progress") == 2:
            break
    first.close()
    last = seen[-1]["id"]
    resumed = EventStream(url, {**bearer(token), "Last-Event-ID": str(last)})
    rest = list(resumed.events())
    resumed.close()
    assert rest, "the job had not ended: events must follow"
    assert all(event["id"] > last for event in rest)
    assert all(a < b for a, b in itertools.pairwise(_ids(rest)))
    assert rest[-1]["event"] in TERMINAL or rest[-1]["state"] in TERMINAL
    # Everything seen: a stream that resumes after the terminal event sends nothing and ends.
    done = EventStream(url, {**bearer(token), "Last-Event-ID": str(rest[-1]["id"])})
    assert list(done.events()) == []
    assert done.ended
    done.close()
    # ?after= does the same for a first connection.
    after = EventStream(f"{url}?after={last}", bearer(token))
    assert all(event["id"] > last for event in after.events())
    after.close()


def test_events_of_an_unknown_job_answer_not_found(gateway: Gateway, token: str) -> None:
    stream = EventStream(f"{gateway.http}/api/jobs/no-such-job/events", bearer(token))
    assert stream.status == 404
    body = stream.json()
    assert body["code"] == "not_found"
    assert body["details"] == {"reason": "unknown"}
    stream.close()
