"""Faults injected for real (kill, restart, stop): every accepted job's end reaches its watchers.

Each test here gets its own Redis (with persistence), and starts the workers and gateways it
breaks. Measured delays go to test-artifacts/measurements.txt (and into docs/reliability.md);
they are never asserted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from tests.fault_stack import FaultStack
from tests.support import (
    Gateway,
    assert_seq_increasing,
    bearer,
    client,
    http_get,
    record_measurement,
)

pytestmark = pytest.mark.slow


def test_worker_killed_mid_job_ends_in_lost(stack: FaultStack) -> None:
    worker = stack.worker("worker-victim")
    gateway = stack.gateway("gateway")  # defaults: 10 s lease, 2 s fallback poll
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.echo", {"task_id": 1, "seconds": 60})
        c.recv_until(lambda f: f.get("event") == "progress")
        worker.kill_group()  # kill -9 of the whole worker, pool included
        killed = time.monotonic()
        frames = c.until_terminal(job_id, timeout=40)
        delay = time.monotonic() - killed
    record_measurement("worker kill -9 to lost event", delay, "s")
    assert frames[-1]["event"] == "failure"
    assert frames[-1]["error"]["type"] == "lost"
    with client(f"{gateway.ws}/ws/jobs/") as later:
        # Not this socket's job: a second connection may not see it...
        assert later.request({"op": "watch", "job_id": job_id})["code"] == "forbidden"


_START = """
import django, sys
django.setup()
from django.contrib.auth import get_user_model
import taskgate
from tests.plain_tasks import plain_export
user = get_user_model().objects.get(username=sys.argv[1])
print(taskgate.start(plain_export.s(600, seconds=60.0), owner=user))
"""


def test_worker_killed_under_a_plain_task_started_for_a_user_ends_in_lost(
    stack: FaultStack, make_token: Callable[..., str]
) -> None:
    """A plain @shared_task started with taskgate.start gets the lost promise too."""
    token = make_token("lost-plain")
    worker = stack.worker("worker-victim")
    gateway = stack.gateway("gateway")
    started = subprocess.run(
        [sys.executable, "-c", _START, "lost-plain"],
        env=stack.env(None), capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    job_id = started.stdout.strip().splitlines()[-1]
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=bearer(token)) as c:
        c.request({"op": "watch", "job_id": job_id})
        c.recv_until(lambda f: f.get("event") == "progress", 30)
        worker.kill_group()
        frames = c.until_terminal(job_id, timeout=40)
    assert frames[-1]["event"] == "failure"
    assert frames[-1]["error"]["type"] == "lost"


def test_worker_killed_under_a_composite_job_fails_it_as_lost_naming_the_part(
    stack: FaultStack,
) -> None:
    worker = stack.worker("worker-victim")
    gateway = stack.gateway("gateway")  # defaults: 10 s lease, 2 s fallback poll
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.bundle", {"parts": 2, "seconds": 60})
        c.take(
            lambda f: f.get("job_id") == job_id,
            lambda f: (
                f.get("event") == "progress" and all(p["state"] == "running" for p in f["parts"])
            ),
            timeout=60,
        )
        worker.kill_group()  # the parts' worker dies; nothing stores their end
        frames = c.until_terminal(job_id, timeout=40)
        snapshot = c.request({"op": "watch", "job_id": job_id})
    end = frames[-1]
    assert end["event"] == "failure"
    assert end["error"]["type"] == "lost"
    assert end["error"]["part"] in {"part-1", "part-2"}
    assert end["error"]["part"] in end["error"]["message"]
    assert snapshot["state"] == "failure"
    assert snapshot["seq"] == end["seq"]
    states = {p["name"]: p["state"] for p in snapshot["parts"]}
    assert states[end["error"]["part"]] == "failure"
    assert set(states.values()) == {"failure", "cancelled"}


def test_worker_killed_with_acks_late_requeues_and_the_job_succeeds(stack: FaultStack) -> None:
    requeue = {
        "TASKGATE_ACKS_LATE": "1",
        "TASKGATE_VISIBILITY_TIMEOUT": "6",
        "TASKGATE_UNACKED_RESTORE_INTERVAL": "1",
        "TASKGATE_LEASE_SECONDS": "3",
    }
    first = stack.worker("worker-first", env=requeue)
    gateway = stack.gateway("gateway", env={"TASKGATE_FALLBACK_INTERVAL": "1", **requeue})
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.echo", {"task_id": "again", "seconds": 3})
        c.recv_until(lambda f: f.get("event") == "progress")
        first.kill_group()
        retrying = c.take(
            lambda f: f.get("job_id") == job_id, lambda f: f["event"] == "retrying", 30
        )[-1]
        assert retrying["error"]["type"] == "lost"
        stack.worker("worker-second", env=requeue)
        frames = [retrying, *c.until_terminal(job_id, timeout=60)]
    assert frames[-1]["event"] == "success"
    assert frames[-1]["result"] == "again"
    assert "running" in [f["event"] for f in frames]  # it really ran again
    assert_seq_increasing(frames)


def test_redis_restart_mid_job_is_survived_and_submits_while_down_are_refused(
    stack: FaultStack,
) -> None:
    stack.worker("worker")
    gateway = stack.gateway("gateway", env={"TASKGATE_FALLBACK_INTERVAL": "1"})
    with client(f"{gateway.ws}/ws/jobs/") as c, client(f"{gateway.ws}/ws/jobs/") as other:
        job_id = c.submit("demo.echo", {"task_id": "survivor", "seconds": 6})
        c.recv_until(lambda f: f.get("event") == "progress")
        stack.redis.stop()  # SIGTERM: Redis saves and exits
        refused = other.request(
            {"op": "submit", "job": "demo.echo", "params": {"task_id": "lost?"}}, timeout=30
        )
        assert refused["event"] == "error"
        assert refused["code"] == "unavailable"
        stack.redis.start()  # same port, same data directory
        frames = c.until_terminal(job_id, timeout=60)
    assert frames[-1]["event"] == "success"
    assert frames[-1]["result"] == "survivor"
    assert_seq_increasing(frames)
    # Nothing of the refused submit was left behind: one job record, an empty queue.
    import redis as redis_py

    r = redis_py.Redis.from_url(stack.redis.url)
    assert len(r.keys("taskgate:job:*")) == 1
    assert r.llen("celery") == 0


def test_gateway_killed_mid_job_client_gets_the_end_from_a_second_gateway(
    stack: FaultStack,
) -> None:
    stack.worker("worker")
    first = stack.gateway("gateway-a")
    second = stack.gateway("gateway-b")
    _, headers, _ = http_get(f"{first.http}/")
    cookie = {"Cookie": headers["set-cookie"].split(";")[0]}
    with client(f"{first.ws}/ws/jobs/", additional_headers=cookie) as c:
        job_id = c.submit("demo.echo", {"task_id": 3, "seconds": 3})
        seen = c.recv_until(lambda f: f.get("event") == "progress")[-1]["seq"]
        first.proc.kill_group()
    with client(f"{second.ws}/ws/jobs/", additional_headers=cookie) as again:
        snapshot = again.request({"op": "watch", "job_id": job_id, "after": seen})
        frames = [
            snapshot,
            *(again.until_terminal(job_id) if snapshot["state"] == "running" else []),
        ]
    assert frames[-1]["event"] in ("success", "snapshot")
    assert frames[-1].get("result") == 3
    assert_seq_increasing(frames)


def test_overload_200_jobs_ending_at_once_and_a_progress_flood(stack: FaultStack) -> None:
    stack.worker("worker", concurrency=4)
    gateway = stack.gateway("gateway")
    rss_before = gateway.proc.rss_kib()
    sockets = [client(f"{gateway.ws}/ws/jobs/") for _ in range(10)]
    clients = [s.__enter__() for s in sockets]
    try:
        jobs = {
            i: [c.submit("demo.echo", {"task_id": n, "seconds": 0}) for n in range(20)]
            for i, c in enumerate(clients)
        }
        flood = clients[0].submit("demo.flood", {"updates": 100_000})
        for i, c in enumerate(clients):
            for job_id in jobs[i]:
                assert c.until_terminal(job_id, timeout=120)[-1]["event"] == "success"
        flood_frames = clients[0].until_terminal(flood, timeout=120)
    finally:
        for s in sockets:
            s.__exit__(None, None, None)
    assert flood_frames[-1]["result"] == 100_000
    progress = [f for f in flood_frames if f["event"] == "progress"]
    assert progress[-1]["progress"]["current"] == 100_000
    assert_seq_increasing(flood_frames)
    growth_mib = (gateway.proc.rss_kib() - rss_before) / 1024
    record_measurement("gateway RSS growth, 200 jobs + 100k progress calls", growth_mib, "MiB")
    assert growth_mib < 200


def test_slow_reader_is_cut_off_and_others_are_not_slowed(stack: FaultStack) -> None:
    import socket

    from websockets.frames import Frame, Opcode

    stack.worker("worker", env={"TASKGATE_PROGRESS_MIN_INTERVAL": "0"})
    gateway = stack.gateway(
        "gateway", env={"TASKGATE_OUTBOX_SIZE": "64", "TASKGATE_SEND_TIMEOUT": "3"}
    )
    _, headers, _ = http_get(f"{gateway.http}/")
    cookie = headers["set-cookie"].split(";")[0]
    # The good client reads everything as it comes: its library buffers frames without
    # limit (max_queue=None) while the test is busy setting up the slow socket below, so
    # a busy machine delaying this thread cannot make the good client look slow.
    with client(
        f"{gateway.ws}/ws/jobs/", additional_headers={"Cookie": cookie}, max_queue=None
    ) as good:
        job_id = good.submit("demo.flood", {"updates": 3000, "message_bytes": 16000})
        # A client that watches the same job and then never reads a byte.
        raw = socket.create_connection(("127.0.0.1", gateway.port))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = [
            "GET /ws/jobs/ HTTP/1.1",
            f"Host: 127.0.0.1:{gateway.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
            f"Cookie: {cookie}",
        ]
        raw.sendall(("\r\n".join(request) + "\r\n\r\n").encode())
        handshake = b""
        while b"\r\n\r\n" not in handshake:
            handshake += raw.recv(1024)
        assert handshake.startswith(b"HTTP/1.1 101")
        frame = Frame(Opcode.TEXT, f'{{"op": "watch", "job_id": "{job_id}"}}'.encode())
        raw.sendall(frame.serialize(mask=True, extensions=[]))
        frames = good.until_terminal(job_id, timeout=120)
    assert frames[-1]["event"] == "success"
    assert_seq_increasing(frames)
    assert "closing a slow reader" in gateway.proc.log() or "did not read" in gateway.proc.log()
    # The server dropped the slow socket: draining what the kernel holds ends in EOF or a reset.
    raw.settimeout(30)
    try:
        while raw.recv(1 << 20):
            pass
    except ConnectionResetError:
        pass
    raw.close()


def test_client_offline_while_its_job_ends_gets_the_terminal_snapshot(gateway: Gateway) -> None:
    _, headers, _ = http_get(f"{gateway.http}/")
    cookie = {"Cookie": headers["set-cookie"].split(";")[0]}
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=cookie) as c:
        job_id = c.submit("demo.echo", {"task_id": "offline", "seconds": 2})
        seen = c.recv_until(lambda f: f.get("event") == "running")[-1]["seq"]
    # The fault itself: the client is away while its job ends and for several fallback polls
    # after (the gateway has left the job's group by then; nothing of it is held in memory).
    time.sleep(10)
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=cookie) as back:
        snapshot = back.request({"op": "watch", "job_id": job_id, "after": seen})
    assert snapshot["event"] == "snapshot"
    assert snapshot["state"] == "success"
    assert snapshot["result"] == "offline"
    assert snapshot["seq"] > seen


def test_sigterm_closes_1000_sockets_with_1001_and_exits(stack: FaultStack) -> None:
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    gateway = stack.gateway("gateway")

    async def scenario() -> tuple[list[int | None], float]:
        sockets = [await connect(f"{gateway.ws}/ws/jobs/", open_timeout=30) for _ in range(1000)]
        await sockets[0].send('{"op": "ping", "ref": "alive"}')
        assert "pong" in str(await sockets[0].recv())
        started = time.monotonic()
        gateway.proc.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]

        async def close_code(ws: object) -> int | None:
            try:
                await ws.recv()  # type: ignore[attr-defined]
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd is not None else None
            return None

        codes = await asyncio.gather(*(close_code(ws) for ws in sockets))
        await asyncio.to_thread(gateway.proc.process.wait, 30)  # type: ignore[union-attr]
        return list(codes), time.monotonic() - started

    codes, elapsed = asyncio.run(scenario())
    record_measurement("gateway SIGTERM with 1000 open sockets to exit", elapsed, "s")
    assert codes == [1001] * 1000
    assert not gateway.proc.alive()


def test_sigterm_to_a_worker_lets_the_running_job_finish(stack: FaultStack) -> None:
    worker = stack.worker("worker")
    gateway = stack.gateway("gateway")
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.echo", {"task_id": "finish", "seconds": 3})
        c.recv_until(lambda f: f.get("event") == "running")
        worker.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        frames = c.until_terminal(job_id, timeout=30)
    assert frames[-1]["event"] == "success"
    assert frames[-1]["result"] == "finish"
    assert worker.process.wait(30) == 0  # type: ignore[union-attr]
