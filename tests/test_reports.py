"""``reports.generate``: as a plain function (its output), and through a real worker."""

from __future__ import annotations

import csv
import hashlib
import io
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from taskgate.examples.reports import (
    HEADER,
    MAX_ROWS,
    ReportParams,
    ReportSummary,
    build_report,
    report_name,
)
from tests.support import Gateway, client, http_get


def _run(rows: int, seed: int) -> tuple[str, list[tuple[int, int, str]], ReportSummary]:
    sink = io.StringIO()
    calls: list[tuple[int, int, str]] = []
    summary = build_report(rows, seed, sink, lambda c, t, m: calls.append((c, t, m)))
    return sink.getvalue(), calls, summary


def test_report_is_a_deterministic_sales_summary_of_every_row() -> None:
    text, _calls, summary = _run(120_000, seed=7)
    again, _, _ = _run(120_000, seed=7)
    other, _, _ = _run(120_000, seed=8)
    assert text == again  # same rows and seed, same file byte for byte
    assert hashlib.sha256(text.encode()).digest() != hashlib.sha256(other.encode()).digest()
    assert text.startswith(HEADER)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 12 * 8 * 24  # one line per month, region and product
    assert sum(int(row["orders"]) for row in rows) == 120_000
    assert sum(int(row["units"]) for row in rows) == summary.units
    revenue = sum(Decimal(row["revenue"]) for row in rows)
    assert revenue * 100 == summary.revenue_cents
    assert {row["month"] for row in rows} == {f"2025-{m:02d}" for m in range(1, 13)}
    first = rows[0]
    assert Decimal(first["average_order"]) == (
        Decimal(first["revenue"]) * 100 // int(first["orders"]) / 100
    )


def test_progress_is_reported_per_chunk_in_three_stages_up_to_the_total() -> None:
    _text, calls, _ = _run(120_000, seed=1)
    currents = [current for current, _, _ in calls]
    assert currents == sorted(currents)
    assert len(set(currents)) == len(currents)
    total = calls[0][1]
    assert all(t == total for _, t, _ in calls)
    assert currents[-1] == total
    stages = [message.split(":")[0] for _, _, message in calls]
    assert stages == sorted(stages, key=["loading", "aggregating", "writing"].index)
    assert stages.count("loading") == 3  # 120,000 rows in chunks of 50,000
    assert stages.count("aggregating") == 3
    assert stages.count("writing") >= 2
    assert calls[0][2] == "loading: 50,000 of 120,000 rows"


def test_rows_default_and_bounds() -> None:
    assert ReportParams.model_validate({}).rows == 200_000
    assert ReportParams.model_validate({"rows": MAX_ROWS}).rows == MAX_ROWS
    for bad in (0, MAX_ROWS + 1, "10"):
        with pytest.raises(ValidationError):
            ReportParams.model_validate({"rows": bad})
    with pytest.raises(ValueError, match="rows must be"):
        build_report(0, 1, io.StringIO(), lambda c, t, m: None)


def test_report_through_the_worker_is_served_to_its_session_only(
    gateway: Gateway, tmp_path: Path
) -> None:
    _status, headers, _ = http_get(f"{gateway.http}/")
    cookie = headers["set-cookie"].split(";")[0]
    with client(f"{gateway.ws}/ws/jobs/", additional_headers={"Cookie": cookie}) as c:
        job_id = c.submit("reports.generate", {"rows": 150_000, "seed": 3})
        frames = c.until_terminal(job_id, timeout=120)
    assert frames[-1]["event"] == "success", frames[-1]
    result = frames[-1]["result"]
    messages = [f["progress"]["message"] for f in frames if f["event"] == "progress"]
    assert {m.split(":")[0] for m in messages} <= {"loading", "aggregating", "writing"}
    assert messages[-1].startswith("writing")
    expected, _, _ = _run(150_000, seed=3)
    assert result["rows"] == 150_000
    assert result["file"] == report_name(ReportParams.model_validate({"rows": 150_000, "seed": 3}))
    assert result["sha256"] == hashlib.sha256(expected.encode()).hexdigest()
    assert result["bytes"] == len(expected.encode())
    assert result["artifact"]["name"] == result["file"]

    url = f"{gateway.http}/api/jobs/{job_id}/artifact"
    status, got, body = http_get(url, headers={"Cookie": cookie}, timeout=30)
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == result["sha256"]
    assert got["content-type"] == "text/csv; charset=utf-8"
    assert got["content-disposition"] == f'attachment; filename="{result["file"]}"'
    assert int(got["content-length"]) == result["bytes"]

    _status, other_headers, _ = http_get(f"{gateway.http}/")
    stranger = other_headers["set-cookie"].split(";")[0]
    status, _, body = http_get(url, headers={"Cookie": stranger})
    assert status == 403
    assert b"forbidden" in body
    status, _, _ = http_get(url)  # no session at all
    assert status == 403
    forged = "sessionid=" + "x" * 32
    assert http_get(url, headers={"Cookie": forged})[0] == 403


def test_artifact_of_unknown_or_fileless_jobs_is_not_found(gateway: Gateway) -> None:
    _status, headers, _ = http_get(f"{gateway.http}/")
    cookie = headers["set-cookie"].split(";")[0]
    status, _, body = http_get(
        f"{gateway.http}/api/jobs/no-such-job/artifact", headers={"Cookie": cookie}
    )
    assert status == 404
    assert b"not_found" in body
    with client(f"{gateway.ws}/ws/jobs/", additional_headers={"Cookie": cookie}) as c:
        job_id = c.submit("demo.echo", {"task_id": 1, "seconds": 0})
        c.until_terminal(job_id)
    status, _, body = http_get(
        f"{gateway.http}/api/jobs/{job_id}/artifact", headers={"Cookie": cookie}
    )
    assert status == 404
    assert b"no file" in body
