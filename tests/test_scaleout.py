"""Several gateway processes on one port: a job submitted through one is watched on another."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from taskgate.cli.redis_server import free_port
from tests.support import PYTHON, Proc, client, http_get, wait_until


def _ready(url: str) -> bool:
    return http_get(url)[0] == 200


@pytest.fixture
def twin_gateways(base_env: dict[str, str], logs_dir: Path) -> Iterator[tuple[int, int, int]]:
    """Two gateways sharing one port (SO_REUSEPORT), each also alone on its own port."""
    shared, own_a, own_b = free_port(), free_port(), free_port()
    procs = [
        Proc(
            name,
            [*PYTHON, "gateway", "--port", str(shared), "--reuse-port", "--own-port", str(own)],
            base_env,
            logs_dir / f"{name}.log",
        ).start()
        for name, own in (("gateway-a", own_a), ("gateway-b", own_b))
    ]
    try:
        for own in (own_a, own_b):
            url = f"http://127.0.0.1:{own}/readyz"
            wait_until(partial(_ready, url), 30, f"gateway on {own}")
        yield shared, own_a, own_b
    finally:
        for proc in procs:
            proc.stop()


def test_job_submitted_on_one_gateway_is_watched_on_another(
    twin_gateways: tuple[int, int, int], worker: Proc
) -> None:
    shared, own_a, own_b = twin_gateways
    _, headers, _ = http_get(f"http://127.0.0.1:{shared}/")
    cookie = {"Cookie": headers["set-cookie"].split(";")[0]}
    with client(f"ws://127.0.0.1:{own_a}/ws/jobs/", additional_headers=cookie) as a:
        job_id = a.submit("demo.echo", {"task_id": "across", "seconds": 1.0})
        with client(f"ws://127.0.0.1:{own_b}/ws/jobs/", additional_headers=cookie) as b:
            answer = b.request({"op": "watch", "job_id": job_id})
            assert answer["event"] == "snapshot", answer
            frames = b.until_terminal(job_id)
        assert frames[-1]["event"] == "success"
        assert frames[-1]["result"] == "across"
        assert a.until_terminal(job_id)[-1]["event"] == "success"
    # The shared port reaches one of them, either way the same product.
    assert http_get(f"http://127.0.0.1:{shared}/readyz")[0] == 200
