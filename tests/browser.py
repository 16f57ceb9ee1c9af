"""Headless Chromium (Debian's, through Playwright) for tests of the live page."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support import Gateway

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("TASKGATE_TEST_ARTIFACTS", "test-artifacts")).resolve()

# Installed in the page before a test acts: every render of a job card (its seq, the bar's
# value and state) and every change of the connection indicator, in order.
RECORDER = """() => {
  window.__log = [];
  const list = document.querySelector("#job-list");
  new MutationObserver((records) => {
    for (const record of records) {
      const card = record.target;
      const bar = card.querySelector("progress");
      const value = bar.getAttribute("value");
      window.__log.push({
        kind: "render", job: card.dataset.jobId, seq: Number(card.dataset.seq),
        value: value === null ? null : Number(value), state: card.dataset.state,
      });
    }
  }).observe(list, { subtree: true, attributes: true, attributeFilter: ["data-seq"] });
  const connection = document.querySelector("#connection");
  new MutationObserver(() => {
    window.__log.push({ kind: "status", status: connection.dataset.status });
  }).observe(connection, { attributes: true, attributeFilter: ["data-status"] });
}"""


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[Browser]:
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def record(page: Page) -> None:
    page.evaluate(RECORDER)


def log(page: Page) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = page.evaluate("window.__log")
    return entries


def renders(page: Page, job_id: str) -> list[dict[str, Any]]:
    return [e for e in log(page) if e["kind"] == "render" and e["job"] == job_id]


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_monotonic(shown: list[dict[str, Any]]) -> None:
    """What a bar showed never repeated or went back: seq strictly up, value never down."""
    seqs = [r["seq"] for r in shown]
    assert all(a < b for a, b in itertools.pairwise(seqs)), f"seq repeated or backwards: {seqs}"
    values = [r["value"] for r in shown if r["value"] is not None]
    assert values == sorted(values), f"the bar went backwards: {values}"


def open_page(page: Page, gateway: Gateway) -> None:
    """Load the page and wait until its socket is open and its job list is filled."""
    page.goto(f"{gateway.http}/")
    expect(page.locator("#connection")).to_have_attribute("data-status", "open")
    expect(page.locator("#job-type option")).not_to_have_count(0)
    record(page)


def start_job(page: Page, job: str, **params: Any) -> str:
    """Start ``job`` from the form; the new card's job id."""
    page.select_option("#job-type", job)
    for name, value in params.items():
        page.fill(f"#param-{name}", str(value))
    before = page.locator("li.job").count()
    page.click("#start")
    expect(page.locator("li.job")).to_have_count(before + 1)
    job_id = page.locator("li.job").first.get_attribute("data-job-id")
    assert job_id
    return job_id


def job_card(page: Page, job_id: str) -> Any:
    return page.locator(f'li.job[data-job-id="{job_id}"]')
