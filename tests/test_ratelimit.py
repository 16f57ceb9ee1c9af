"""The token buckets behind ``rate_limited``: per socket, and per principal
(taskgate.jobs.rate_limit)."""

from __future__ import annotations

from collections.abc import Callable

import redis

from taskgate.jobs.rate_limit import TokenBucket
from tests.support import Gateway, bearer, client, http_json


def test_burst_then_refusal_with_a_wait() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take()
    assert 0 < wait <= 1.0


def test_principal_limit_is_shared_by_socket_and_http_and_refusals_dispatch_nothing(
    idle_gateway: Gateway, idle_redis_url: str, make_token: Callable[..., str]
) -> None:
    """The idle gateway admits three submits per principal; its jobs stay on the queue."""
    from taskgate.models import Job

    token = make_token("limited")
    queue = redis.Redis.from_url(idle_redis_url)
    queued_before = queue.llen("celery")
    url = f"{idle_gateway.http}/api/jobs"
    body = {"job": "demo.echo", "params": {"task_id": 1}}
    with client(f"{idle_gateway.ws}/ws/jobs/", additional_headers=bearer(token)) as c:
        accepted = [c.submit("demo.echo", {"task_id": i}) for i in range(2)]
    status, _, answer = http_json("POST", url, body, bearer(token))
    assert status == 202
    accepted.append(answer["job_id"])
    # Over the limit, on a new socket and over HTTP alike: the limit is the principal's.
    status, headers, answer = http_json("POST", url, body, bearer(token))
    assert status == 429
    assert answer["code"] == "rate_limited"
    assert answer["retry_after"] > 0
    assert int(headers["retry-after"]) >= 1
    with client(f"{idle_gateway.ws}/ws/jobs/", additional_headers=bearer(token)) as c:
        refused = c.request({"op": "submit", "job": "demo.echo", "params": {"task_id": 9}})
    assert refused["event"] == "error"
    assert refused["code"] == "rate_limited"
    assert refused["retry_after"] > 0
    # Nothing was dispatched or recorded for the refused submits.
    assert queue.llen("celery") - queued_before == 3
    owner = Job.objects.get(id=accepted[0]).owner
    assert sorted(Job.objects.filter(owner=owner).values_list("id", flat=True)) == sorted(accepted)
