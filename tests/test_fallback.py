"""Lost pushes are repaired by the fallback poll: the terminal state always arrives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DEAD_REDIS_URL
from tests.support import Gateway, Proc, assert_seq_increasing, client, start_gateway, start_worker


@pytest.fixture(scope="module")
def lossy_pair(
    base_env: dict[str, str], redis_url: str, logs_dir: Path
) -> Iterator[tuple[Gateway, Proc]]:
    """A worker whose channel layer is a dead Redis: every push it sends is lost. It and its
    gateway use database 1, so no other worker takes their jobs."""
    db1 = redis_url.rsplit("/", 1)[0] + "/1"
    env = dict(
        base_env, REDIS_URL=db1, TASKGATE_FALLBACK_INTERVAL="1", TASKGATE_LAYER_PROBE_INTERVAL="5"
    )
    worker = start_worker(
        dict(env, TASKGATE_CHANNEL_URL=DEAD_REDIS_URL), logs_dir, name="worker-lossy", concurrency=1
    )
    gateway = start_gateway(env, logs_dir, name="gateway-lossy")
    yield gateway, worker
    gateway.proc.stop()
    worker.stop()


def test_lost_push_signals_still_end_in_the_terminal_event(
    lossy_pair: tuple[Gateway, Proc],
) -> None:
    gateway, worker = lossy_pair
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.echo", {"task_id": 11, "seconds": 1})
        frames = c.until_terminal(job_id, timeout=20)
    assert frames[-1]["event"] == "success"
    assert frames[-1]["result"] == 11
    assert_seq_increasing(frames)
    assert "push of" in worker.log()  # the worker really failed to push


@pytest.fixture(scope="module")
def deaf_gateway(
    base_env: dict[str, str], redis_url: str, logs_dir: Path
) -> Iterator[tuple[Gateway, Proc]]:
    """A gateway whose channel layer is unreachable (it gets no push at all), on database 2."""
    db2 = redis_url.rsplit("/", 1)[0] + "/2"
    env = dict(
        base_env,
        REDIS_URL=db2,
        TASKGATE_FALLBACK_INTERVAL="3600",
        TASKGATE_FALLBACK_DEGRADED_INTERVAL="0.3",
    )
    worker = start_worker(env, logs_dir, name="worker-db2", concurrency=1)
    gateway = start_gateway(
        dict(env, TASKGATE_CHANNEL_URL=DEAD_REDIS_URL, TASKGATE_REDIS_CONNECT_TIMEOUT="0.3"),
        logs_dir,
        name="gateway-deaf",
        ready=False,
    )
    yield gateway, worker
    gateway.proc.stop()
    worker.stop()


def test_unreachable_layer_speeds_up_the_fallback(deaf_gateway: tuple[Gateway, Proc]) -> None:
    gateway, _ = deaf_gateway
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.echo", {"task_id": 12, "seconds": 1.5})
        frames = c.until_terminal(job_id, timeout=20)
    assert frames[-1]["event"] == "success"
    # The normal interval is an hour: only the degraded-mode poll can have delivered these.
    assert [f for f in frames if f["event"] == "progress"]
    assert_seq_increasing(frames)
    assert "fallback poll takes over" in gateway.proc.log()
