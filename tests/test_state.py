"""Turning result-backend meta into protocol states and events (taskgate.contract)."""

from __future__ import annotations

from taskgate.contract.meta import state_from_meta
from taskgate.contract.states import State
from taskgate.contract.wire import make_progress, parse_ts


def test_missing_meta_is_queued_with_the_counter_as_seq() -> None:
    state = state_from_meta("j", None, 0)
    assert state.state is State.QUEUED
    assert state.seq == 0


def test_progress_meta_carries_its_own_seq_and_ts() -> None:
    progress = make_progress(3, 4, "three")
    meta = {
        "status": "PROGRESS",
        "result": {"seq": 7, "ts": "2026-01-01T00:00:00.000001Z", "progress": progress},
    }
    state = state_from_meta("j", meta, 9)
    assert state.seq == 7
    event = state.event()
    assert event == {
        "event": "progress",
        "job_id": "j",
        "seq": 7,
        "ts": "2026-01-01T00:00:00.000001Z",
        "progress": progress,
    }


def test_terminal_seq_is_one_past_the_counter() -> None:
    meta = {"status": "SUCCESS", "result": {"rows": 1}, "date_done": "2026-01-01T00:00:00.5+00:00"}
    state = state_from_meta("j", meta, 5)
    assert state.seq == 6
    assert state.state.terminal
    assert state.event() == {
        "event": "success",
        "job_id": "j",
        "seq": 6,
        "ts": "2026-01-01T00:00:00.500000Z",
        "result": {"rows": 1},
    }


def test_failure_maps_exceptions_and_lost_workers() -> None:
    failed = {
        "status": "FAILURE",
        "result": {"exc_type": "ValueError", "exc_message": ["bad", "input"]},
    }
    assert state_from_meta("j", failed, 1).error == {"type": "ValueError", "message": "bad input"}
    lost = {"status": "FAILURE", "result": {"exc_type": "WorkerLostError", "exc_message": []}}
    assert state_from_meta("j", lost, 1).error["type"] == "lost"  # type: ignore[index]


def test_revoked_is_cancelled() -> None:
    assert state_from_meta("j", {"status": "REVOKED"}, 2).event()["event"] == "cancelled"


def test_progress_percent_is_clamped() -> None:
    assert make_progress(5, 4)["percent"] == 100.0
    assert make_progress(-1, 4)["percent"] == 0.0
    assert make_progress(1, 0)["percent"] == 0.0


def test_parse_ts_normalises_to_utc_microseconds() -> None:
    assert parse_ts("2026-01-01T01:00:00+01:00") == "2026-01-01T00:00:00.000000Z"
    assert parse_ts("garbage") is None
