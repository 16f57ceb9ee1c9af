"""The live page in a real browser (headless Chromium) against the real stack.

Each test drives the page as a person would and reads what it shows: the bar's value, the
card's state, the connection indicator. A recorder in the page logs every render of a card
(its seq and bar value), so "no duplicated or backwards step" is checked on what was shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import (
    assert_monotonic,
    job_card,
    open_page,
    record,
    renders,
    screenshot,
    start_job,
)
from tests.support import Gateway, Proc, start_gateway

WAIT_MS = 90_000  # the machine is small and shared: waits are generous, never sleeps
expect.set_options(timeout=WAIT_MS)


def _web_env(base_env: dict[str, str]) -> dict[str, str]:
    return dict(base_env, TASKGATE_FLOWER_URL="http://127.0.0.1:5555/")


@pytest.fixture(scope="module")
def web(base_env: dict[str, str], logs_dir: Path, worker: Proc) -> Iterator[Gateway]:
    gw = start_gateway(_web_env(base_env), logs_dir, name="gateway-web")
    yield gw
    gw.proc.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    yield page
    context.close()


def _wait_for_value_above(page: Page, job_id: str, value: float) -> None:
    page.wait_for_function(
        """([id, value]) => {
            const bar = document.querySelector(`li.job[data-job-id="${id}"] progress`);
            return bar && Number(bar.getAttribute("value") ?? -1) > value;
        }""",
        arg=[job_id, value],
    )


def _value(page: Page, job_id: str) -> float:
    raw = job_card(page, job_id).locator("progress").get_attribute("value")
    return float(raw) if raw is not None else -1.0


def test_report_bar_fills_to_100_and_the_download_has_the_reported_sha256(
    page: Page, web: Gateway
) -> None:
    open_page(page, web)
    expect(page.locator("#flower-link")).to_have_attribute("href", "http://127.0.0.1:5555/")
    job_id = start_job(page, "reports.generate", rows=1_000_000)
    card = job_card(page, job_id)
    expect(card).to_have_attribute("data-state", "success")
    expect(card.locator(".percent")).to_have_text("100 %")
    expect(card.locator("progress")).to_have_attribute("value", "100")
    shown = renders(page, job_id)
    values = {r["value"] for r in shown if r["value"] is not None}
    assert len(values) >= 3, f"the bar showed only {sorted(values)}"
    assert_monotonic(shown)
    assert card.locator(".message").inner_text() == "Finished"

    reported = card.locator(".value-sha256").inner_text()
    assert card.locator(".value-rows").inner_text() == "1000000"
    link = card.locator("a.download")
    expect(link).to_have_attribute("href", f"/api/jobs/{job_id}/artifact")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "sales-report-1000000-rows-seed-1.csv"
    data = Path(download.path()).read_bytes()
    assert hashlib.sha256(data).hexdigest() == reported
    assert data.startswith(b"month,region,product,")
    screenshot(page, "page-finished.png")


def test_page_is_readable_on_a_phone(page: Page, web: Gateway) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    open_page(page, web)
    job_id = start_job(page, "demo.echo", task_id="phone", seconds=0.5)
    expect(job_card(page, job_id)).to_have_attribute("data-state", "success")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width"
    bar = job_card(page, job_id).locator("progress")
    assert bar.evaluate("el => el.getBoundingClientRect().width") > 200
    assert bar.get_attribute("aria-labelledby") == f"job-{job_id}-title"
    expect(job_card(page, job_id).locator(".json")).to_have_text('"phone"')
    screenshot(page, "page-phone.png")


def test_cancel_marks_a_running_job_cancelled_and_leaves_the_other_bar_alone(
    page: Page, web: Gateway
) -> None:
    open_page(page, web)
    job_id = start_job(page, "demo.echo", task_id=7, seconds=60)
    other_id = start_job(page, "demo.echo", task_id=8, seconds=4)
    card = job_card(page, job_id)
    _wait_for_value_above(page, job_id, 0)
    expect(card).to_have_attribute("data-state", "running")
    card.locator("button.cancel").click()
    expect(card).to_have_attribute("data-state", "cancelled")
    expect(card.locator(".badge")).to_have_text("Cancelled")
    expect(card.locator("button.cancel")).to_be_hidden()
    assert _value(page, job_id) < 100
    assert_monotonic(renders(page, job_id))
    other = job_card(page, other_id)  # several bars at once, each its own
    expect(other).to_have_attribute("data-state", "success")
    expect(other.locator(".json")).to_have_text("8")
    assert_monotonic(renders(page, other_id))
    assert page.locator("li.job").count() == 2


def test_bar_resumes_after_the_gateway_restarts_without_repeating_a_step(
    page: Page, base_env: dict[str, str], logs_dir: Path, worker: Proc
) -> None:
    env = _web_env(base_env)
    gateway = start_gateway(env, logs_dir, name="gateway-restarted")
    try:
        open_page(page, gateway)
        job_id = start_job(page, "demo.echo", task_id="resume", seconds=20)
        _wait_for_value_above(page, job_id, 5)
        gateway.proc.stop()
        expect(page.locator("#connection")).to_have_attribute("data-status", "reconnecting")
        cut_at = _value(page, job_id)
        gateway = start_gateway(env, logs_dir, name="gateway-restarted", port=gateway.port)
        expect(page.locator("#connection")).to_have_attribute("data-status", "open")
        card = job_card(page, job_id)
        expect(card).to_have_attribute("data-state", "success")
        expect(card.locator(".percent")).to_have_text("100 %")
    finally:
        gateway.proc.stop()
    shown = renders(page, job_id)
    assert_monotonic(shown)
    log = page.evaluate("window.__log")
    reopened = next(
        i
        for i, entry in enumerate(log)
        if entry["kind"] == "status"
        and entry["status"] == "open"
        and any(e.get("status") == "reconnecting" for e in log[:i])
    )
    after = [e for e in log[reopened:] if e["kind"] == "render" and e["job"] == job_id]
    assert after, "nothing was shown after the reconnect"
    assert after[-1]["value"] == 100
    assert all(e["value"] is None or e["value"] >= cut_at for e in after)
    assert page.locator("li.job").count() == 1


def test_reload_mid_job_reattaches_the_bar(page: Page, web: Gateway) -> None:
    open_page(page, web)
    job_id = start_job(page, "demo.echo", task_id="reload", seconds=8)
    _wait_for_value_above(page, job_id, 0)
    before = _value(page, job_id)
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-status", "open")
    card = job_card(page, job_id)
    expect(card).to_have_count(1)
    # The snapshot puts the bar back where it was (or further), not at zero.
    _wait_for_value_above(page, job_id, before - 0.01)
    record(page)
    expect(card).to_have_attribute("data-state", "success")
    expect(card.locator(".percent")).to_have_text("100 %")
    expect(card.locator(".json")).to_have_text('"reload"')
    assert_monotonic(renders(page, job_id))
    assert page.locator("li.job").count() == 1
    assert page.evaluate("JSON.parse(sessionStorage.getItem('taskgate.jobs'))[0].jobId") == job_id


def test_a_failed_job_shows_its_error_and_bad_parameters_are_explained(
    page: Page, web: Gateway
) -> None:
    open_page(page, web)
    job_id = start_job(page, "demo.fail", steps=2, seconds_per_step=0.1, message="disk on fire")
    card = job_card(page, job_id)
    expect(card).to_have_attribute("data-state", "failure")
    expect(card.locator(".badge")).to_have_text("Failed")
    expect(card.locator(".error")).to_have_text("DemoFailure: disk on fire")

    page.select_option("#job-type", "reports.generate")
    page.fill("#param-rows", "0")
    page.click("#start")
    expect(page.locator("#form-error")).to_be_visible()
    expect(page.locator("#form-error")).to_contain_text("rows:")
    assert page.locator("li.job").count() == 1  # nothing was started


# Every change of a part's row under a card: its state and bar value, in order.
PART_RECORDER = """() => {
  window.__parts = [];
  new MutationObserver((records) => {
    for (const record of records) {
      const item = record.target;
      if (!item.classList.contains("part")) continue;
      const value = item.querySelector("progress").getAttribute("value");
      window.__parts.push({
        part: item.dataset.part, state: item.dataset.state,
        value: value === null ? null : Number(value),
      });
    }
  }).observe(document.querySelector("#job-list"),
             { subtree: true, attributes: true, attributeFilter: ["data-state"] });
}"""


def test_bundle_shows_the_overall_bar_with_each_part_under_it(page: Page, web: Gateway) -> None:
    open_page(page, web)
    page.evaluate(PART_RECORDER)
    job_id = start_job(page, "reports.bundle", regions="north, south, east", rows=150_000)
    card = job_card(page, job_id)
    parts = card.locator("li.part")
    expect(parts).to_have_count(3)
    expect(card).to_have_attribute("data-state", "success")
    expect(card.locator("progress.bar")).to_have_attribute("value", "100")
    assert [parts.nth(i).get_attribute("data-part") for i in range(3)] == [
        "north",
        "south",
        "east",
    ]
    for i in range(3):
        expect(parts.nth(i)).to_have_attribute("data-state", "success")
        expect(parts.nth(i).locator("progress")).to_have_attribute("value", "100")
    expect(card.locator(".parts-summary")).to_have_text("3 of 3 parts done")
    assert_monotonic(renders(page, job_id))
    changes: list[dict[str, Any]] = page.evaluate("window.__parts")
    for name in ("north", "south", "east"):
        states = [c["state"] for c in changes if c["part"] == name]
        assert "running" in states, f"{name} was never shown running: {states}"
        assert states[-1] == "success"
    link = card.locator("a.download")
    expect(link).to_have_text("Download sales-reports-3-regions-150000-rows-seed-1.zip")
    screenshot(page, "page-bundle.png")
