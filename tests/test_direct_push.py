"""The store script's own push (TASKGATE_DIRECT_PUSH): what it publishes is the message the
channel layer would have sent, with the seq it stored, in seq order, and only where the layer
publishes on the result backend's server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
from channels_redis.pubsub import RedisPubSubChannelLayer

from taskgate.events import emit
from taskgate.events.layer_pipeline import SEQ_MARK, direct_route


def _layer(url: str, **options: object) -> RedisPubSubChannelLayer:
    return RedisPubSubChannelLayer(hosts=[{"address": url}], prefix="taskgate.", **options)


def test_the_script_stores_then_publishes_the_layers_own_message_in_seq_order(
    redis_url: str,
) -> None:
    parts = urlsplit(redis_url)
    layer = _layer(redis_url)
    route = direct_route(layer, (str(parts.hostname), int(parts.port or 6379)))
    assert route is not None
    client = redis.Redis.from_url(redis_url)
    job_id = "direct-push-test"
    subscriber = client.pubsub()  # type: ignore[no-untyped-call]
    subscriber.subscribe(route.channel(job_id))
    assert subscriber.get_message(timeout=5)["type"] == "subscribe"
    keys = [f"celery-task-meta-{job_id}", f"taskgate:seq:{job_id}:t", f"p:{job_id}", "r:t"]
    seqs = []
    for step in range(300):  # past 255: every byte of the packed seq is written
        event = {"event": "progress", "job_id": job_id, "seq": SEQ_MARK, "progress": {"n": step}}
        packed = route.split(event)
        assert packed is not None
        args: list[str | int | bytes] = ['{"status": "PROGRESS", "seq": ', "}", 60, "", ""]
        args += [route.channel(job_id), *packed]
        seqs.append(int(client.eval(emit._STORE_UNLESS_ENDED, len(keys), *keys, *args)))
    got: list[dict[str, Any]] = []
    while len(got) < 300:
        message = subscriber.get_message(timeout=5)
        assert message is not None, f"only {len(got)} of 300 published"
        got.append(layer.deserialize(message["data"]))
    assert seqs == list(range(1, 301))
    assert [m["event"]["seq"] for m in got] == seqs
    assert got[-1] == {
        "type": "job.event",
        "event": {"event": "progress", "job_id": job_id, "seq": 300, "progress": {"n": 299}},
    }
    # Stored first: the meta holds the last seq published.
    assert client.get(keys[0]) == b'{"status": "PROGRESS", "seq": 300}'
    subscriber.close()
    client.close()


def test_no_direct_push_where_the_layer_would_send_something_else(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    here = (str(parts.hostname), int(parts.port or 6379))
    assert direct_route(_layer(redis_url), (here[0], here[1] + 1)) is None
    assert direct_route(_layer(redis_url), None) is None
    encrypted = _layer(redis_url, symmetric_encryption_keys=["a-test-key-of-enough-length"])
    assert direct_route(encrypted, here) is None
    two = RedisPubSubChannelLayer(hosts=[redis_url, redis_url.replace("/0", "/1")])
    assert direct_route(two, here) is None
