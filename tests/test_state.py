"""Turning result-backend meta into protocol states and events (taskgate.contract)."""

from __future__ import annotations

import math
import random
import re

from taskgate.contract.meta import state_from_meta
from taskgate.contract.states import State
from taskgate.contract.wire import make_progress, now_ts, parse_ts, round_to


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


def test_progress_numbers_are_rounded_as_round_does_but_for_ties() -> None:
    assert make_progress(1, 3)["percent"] == 33.33
    assert make_progress(2, 3)["percent"] == 66.67
    rng = random.Random(16)
    for _ in range(20_000):
        value = rng.random() * rng.choice([1.0, 100.0, 1e4, 1e9])
        for digits in (0, 1, 2, 3):
            scaled = value * 10**digits
            if abs(scaled - math.floor(scaled) - 0.5) > 1e-6:  # not a tie
                assert round_to(value, digits) == round(value, digits)
    assert round_to(1e300, 3) == 1e300
    assert round_to(math.inf, 1) == math.inf
    assert math.isnan(round_to(math.nan, 2))


def test_now_ts_is_utc_with_six_digits_of_microseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", now_ts())
    assert parse_ts(now_ts()) is not None


def test_parse_ts_normalises_to_utc_microseconds() -> None:
    assert parse_ts("2026-01-01T01:00:00+01:00") == "2026-01-01T00:00:00.000000Z"
    assert parse_ts("garbage") is None
