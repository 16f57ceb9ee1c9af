"""The token bucket behind ``rate_limited`` (gateway.ratelimit)."""

from __future__ import annotations

from gateway.ratelimit import TokenBucket


def test_burst_then_refusal_with_a_wait() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take()
    assert 0 < wait <= 1.0
