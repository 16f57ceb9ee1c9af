"""The worker's rate and time-left estimate (pure), and the gateway's stall threshold."""

from __future__ import annotations

import pytest

from taskgate.delivery.stalled import stall_threshold
from taskgate.worker.rate import RateEstimator
from tests.support import override_config


def test_a_steady_job_gets_its_rate_and_eta() -> None:
    rates = RateEstimator(started=0.0)
    estimate = None
    for step in range(1, 11):
        estimate = rates.update(step * 0.5, step * 100.0, 2000.0)
    assert estimate is not None
    assert estimate.rate == pytest.approx(200.0)
    assert estimate.eta == pytest.approx(5.0)
    assert estimate.interval == pytest.approx(0.5)


def test_one_slow_step_does_not_swing_the_rate() -> None:
    rates = RateEstimator(started=0.0)
    for step in range(1, 41):
        rates.update(step * 0.5, step * 100.0, 10_000.0)
    # One step takes four times as long: the raw speed falls to a quarter.
    slow = rates.update(20.0 + 2.0, 4100.0, 10_000.0)
    assert slow.rate is not None
    assert 140.0 < slow.rate < 200.0


def test_no_total_no_eta_and_a_count_that_starts_over_forgets_the_rate() -> None:
    rates = RateEstimator(started=0.0)
    assert rates.update(1.0, 10.0, None).eta is None
    restarted = rates.update(2.0, 3.0, 100.0)
    assert restarted.rate is None
    assert restarted.eta is None
    assert rates.update(3.0, 13.0, 100.0).rate == pytest.approx(10.0)


def test_the_stall_threshold_is_a_multiple_of_the_interval_with_a_floor() -> None:
    with override_config(stall_floor=30.0, stall_multiple=10.0):
        assert stall_threshold(None) == 30.0
        assert stall_threshold(0.25) == 30.0
        assert stall_threshold(6.0) == 60.0


def test_the_terminal_says_it_as_the_page_does() -> None:
    from datetime import UTC, datetime

    from taskgate.cli.progress_text import rate_line, stalled_text

    line = rate_line({"eta": 40.2, "rate": 3200.4, "unit": "rows"})
    assert line == "about 40 s left · 3,200 rows/s"
    assert rate_line({"eta": None, "rate": 12.34}) == "12.3/s"
    assert rate_line(None) == ""
    now = datetime(2026, 12, 2, 10, 0, 45, 400_000, tzinfo=UTC)
    assert stalled_text("2026-12-02T10:00:00.000000Z", now) == "no progress for 45 s"
    assert stalled_text(None, now) == ""
