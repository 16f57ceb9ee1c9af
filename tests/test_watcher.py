"""Per-socket delivery (taskgate.delivery.watcher): first frame first, seq order, one terminal."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from taskgate.delivery.watcher import Watcher


async def _run(actions: Any) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    sent: list[dict[str, Any]] = []
    closed: list[int] = []
    done: list[str] = []

    async def send(text: str) -> None:
        sent.append(json.loads(text))

    async def close(code: int) -> None:
        closed.append(code)

    conn = Watcher(send, close, outbox_size=10, send_timeout=1.0, on_done=done.append)
    actions(conn)
    for _ in range(20):
        await asyncio.sleep(0)
    await conn.stop()
    return sent, closed, done


def _ev(kind: str, seq: int) -> dict[str, Any]:
    return {"event": kind, "job_id": "j", "seq": seq, "ts": "t"}


def test_events_before_the_first_frame_wait_and_are_sorted() -> None:
    def actions(conn: Watcher) -> None:
        watch = conn.begin("j")
        conn.offer("j", _ev("progress", 3))
        conn.offer("j", _ev("running", 1))
        conn.activate(watch, {"event": "accepted", "job_id": "j", "seq": 0})
        conn.offer("j", _ev("progress", 2))  # older than what was sent: dropped
        conn.offer("j", _ev("success", 4))
        conn.offer("j", _ev("success", 4))  # duplicate terminal: dropped
        conn.offer("j", _ev("progress", 5))  # after terminal: dropped

    sent, closed, done = asyncio.run(_run(actions))
    assert [(f["event"], f["seq"]) for f in sent] == [
        ("accepted", 0),
        ("running", 1),
        ("progress", 3),
        ("success", 4),
    ]
    assert done == ["j"]
    assert not closed


def test_snapshot_respects_after_and_terminal_snapshot_ends_the_watch() -> None:
    def actions(conn: Watcher) -> None:
        watch = conn.begin("j", after=6)
        conn.offer("j", _ev("progress", 5))
        conn.activate(watch, {"event": "snapshot", "job_id": "j", "seq": 4, "state": "running"})
        conn.offer("j", _ev("progress", 7))
        other = conn.begin("k")
        conn.activate(other, {"event": "snapshot", "job_id": "k", "seq": 3, "state": "failure"})
        conn.offer("k", {"event": "failure", "job_id": "k", "seq": 3})

    sent, _, done = asyncio.run(_run(actions))
    assert [(f["job_id"], f["event"], f["seq"]) for f in sent] == [
        ("j", "snapshot", 4),
        ("j", "progress", 7),
        ("k", "snapshot", 3),
    ]
    assert done == ["k"]


def test_a_full_outbox_closes_the_slow_reader() -> None:
    def actions(conn: Watcher) -> None:
        for i in range(30):
            conn.reply({"event": "pong", "n": i})

    _, closed, _ = asyncio.run(_run(actions))
    assert closed == [4008]


def test_frames_written_at_once_and_frames_queued_keep_their_order() -> None:
    """``send_now`` (uvicorn's synchronous write) takes a frame only with nothing queued
    before it; while frames wait behind the writer, later ones queue behind them, even once
    the socket could take them again."""
    wire: list[tuple[str, dict[str, Any]]] = []  # (how, frame), in the order written
    room = {"open": True}
    gate = asyncio.Event()

    def send_now(data: bytes) -> bool:
        if room["open"]:
            wire.append(("now", json.loads(data)))
        return room["open"]

    async def send(text: str) -> None:
        await gate.wait()  # the client reads slowly: this frame is still being sent
        wire.append(("queued", json.loads(text)))

    async def close(code: int) -> None:
        raise AssertionError(f"closed with {code}")

    async def scenario() -> None:
        conn = Watcher(
            send, close, outbox_size=10, send_timeout=5.0, on_done=lambda _: None, send_now=send_now
        )
        watch = conn.begin("j")
        conn.activate(watch, {"event": "accepted", "job_id": "j", "seq": 0})
        for _ in range(5):
            await asyncio.sleep(0)
        conn.offer("j", _ev("running", 1), b'{"encoded":"once"}')  # the hub's shared frame
        room["open"] = False  # the client stopped reading for a moment
        conn.offer("j", _ev("progress", 2))
        for _ in range(5):
            await asyncio.sleep(0)  # the writer now waits in send() with 2
        room["open"] = True
        conn.offer("j", _ev("progress", 3))  # must wait behind 2, not overtake it
        conn.offer("j", _ev("progress", 3))  # a duplicate (from the fallback): dropped
        gate.set()
        for _ in range(10):
            await asyncio.sleep(0)
        conn.offer("j", _ev("success", 4))
        await conn.stop()

    asyncio.run(scenario())
    assert [(how, f.get("event", "shared"), f.get("seq")) for how, f in wire] == [
        ("now", "accepted", 0),
        ("now", "shared", None),
        ("queued", "progress", 2),
        ("now", "progress", 3),
        ("now", "success", 4),
    ]
