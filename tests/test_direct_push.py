"""The store script's own push (TASKGATE_DIRECT_PUSH): the job's frame, encoded once by the
worker, is what it stores and what it publishes as the channel layer's message, with the seq
it stored, in seq order, and only where the layer publishes plain msgpack on the result
backend's server."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import redis
from celery.app.task import Context
from channels_redis.pubsub import RedisPubSubChannelLayer

from taskgate.contract.keys import progress_key
from taskgate.contract.meta import state_from_meta
from taskgate.contract.wire import make_progress
from taskgate.events import emit
from taskgate.events.layer_pipeline import direct_route
from taskgate.events.publisher import publisher
from taskgate.serve.celery_app import app


def _layer(url: str, **options: object) -> RedisPubSubChannelLayer:
    return RedisPubSubChannelLayer(hosts=[{"address": url}], prefix="taskgate.", **options)


# Messages whose frames cross the sizes the script writes differently (msgpack's binary with
# a 1-, 2- and 4-byte size), some not ASCII (the size counts bytes, not characters).
MESSAGES = ["", "é" * 40, "x" * 200, "ü" * 120, "y" * 65_500, "z" * 70_000, "done"]


def test_the_script_stores_then_publishes_the_frame_in_seq_order(redis_url: str) -> None:
    route = publisher.route()  # the suite's settings: a pub/sub layer on the result Redis
    assert route is not None
    client = redis.Redis.from_url(redis_url)
    job_id = f"direct-push-{uuid.uuid4()}"
    subscriber = client.pubsub()  # type: ignore[no-untyped-call]
    subscriber.subscribe(route.channel(job_id))
    assert subscriber.get_message(timeout=5)["type"] == "subscribe"
    task: Any = app.tasks["demo.echo"]
    request = Context(id=job_id, task="demo.echo", hostname="celery@direct", children=[])
    emit.store_and_emit(task, request, "STARTED")
    sent = []
    for step in range(60):
        progress = make_progress(step, 59, MESSAGES[step % len(MESSAGES)])
        sent.append(progress)
        emit.store_and_emit(task, request, "PROGRESS", progress=progress)
    emit.wait_stored()

    layer = _layer(redis_url)
    frames: list[bytes] = []
    while len(frames) < 61:
        message = subscriber.get_message(timeout=5)
        assert message is not None, f"only {len(frames)} of 61 published"
        decoded = layer.deserialize(message["data"])  # the layer's own decoder reads it
        assert set(decoded) == {"type", "frame"}
        assert decoded["type"] == "job.frame"
        frames.append(decoded["frame"])
    events = [json.loads(frame) for frame in frames]
    assert [event["seq"] for event in events] == list(range(1, 62))
    assert events[0]["event"] == "running"
    assert events[0]["worker"] == "celery@direct"
    assert [event["progress"] for event in events[1:]] == sent
    assert {event["job_id"] for event in events} == {job_id}
    assert all(set(event) == {"event", "job_id", "seq", "ts", "progress"} for event in events[1:])

    # Stored first: the meta holds the last frame published, with its worker.
    backend: Any = app.backend
    meta = backend.get_task_meta(job_id)
    assert meta["status"] == "PROGRESS"
    assert meta["result"] == {**events[-1], "worker": "celery@direct"}
    state = state_from_meta(job_id, meta, 61)
    assert (state.seq, state.progress, state.worker) == (61, sent[-1], "celery@direct")
    assert json.loads(client.get(progress_key(job_id)) or b"null") == sent[-1]
    subscriber.close()
    client.close()


def test_no_direct_push_where_the_layer_would_send_something_else(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    here = (str(parts.hostname), int(parts.port or 6379))
    assert direct_route(_layer(redis_url), here) is not None
    assert direct_route(_layer(redis_url), (here[0], here[1] + 1)) is None
    assert direct_route(_layer(redis_url), None) is None
    encrypted = _layer(redis_url, symmetric_encryption_keys=["a-test-key-of-enough-length"])
    assert direct_route(encrypted, here) is None
    assert direct_route(_layer(redis_url, serializer_format="json"), here) is None
    two = RedisPubSubChannelLayer(hosts=[redis_url, redis_url.replace("/0", "/1")])
    assert direct_route(two, here) is None
