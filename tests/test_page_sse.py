"""The page where WebSockets never open: the client falls back to the HTTP API and SSE.

Chromium's WebSockets are refused for real (Playwright closes every one at the handshake);
the page must still submit, show live progress pushed over Server-Sent Events, cancel, and
end each bar in its final state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from tests.browser import assert_monotonic, record, renders
from tests.support import Gateway, Proc, start_gateway

WAIT_MS = 90_000
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def web(base_env: dict[str, str], logs_dir: Path, worker: Proc) -> Iterator[Gateway]:
    gw = start_gateway(base_env, logs_dir, name="gateway-sse-page")
    yield gw
    gw.proc.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    attempts: list[str] = []

    def refuse(socket: WebSocketRoute) -> None:
        attempts.append(socket.url)
        socket.close(code=4000, reason="WebSockets are blocked here")

    context.route_web_socket("**/ws/jobs/", refuse)
    page = context.new_page()
    page.ws_attempts = attempts  # type: ignore[attr-defined]
    yield page
    context.close()


def test_without_websockets_the_page_runs_jobs_over_sse(page: Page, web: Gateway) -> None:
    page.goto(f"{web.http}/")
    expect(page.locator("#connection")).to_have_attribute("data-status", "open")
    expect(page.locator("#job-type option")).not_to_have_count(0)
    assert len(page.ws_attempts) >= 3  # type: ignore[attr-defined]
    record(page)
    page.select_option("#job-type", "demo.echo")
    page.fill("#param-task_id", "77")
    page.fill("#param-seconds", "2")
    page.click("#start")
    card = page.locator("li.job").first
    job_id = card.get_attribute("data-job-id")
    assert job_id
    expect(card).to_have_attribute("data-state", "success")
    expect(card.locator(".json")).to_have_text("77")
    shown = renders(page, job_id)
    assert len({r["value"] for r in shown if r["value"] is not None}) >= 3  # live steps
    assert_monotonic(shown)

    page.fill("#param-seconds", "60")
    page.click("#start")
    expect(page.locator("li.job")).to_have_count(2)
    long_card = page.locator("li.job").first
    expect(long_card).to_have_attribute("data-state", "running")
    long_card.locator("button.cancel").click()
    expect(long_card).to_have_attribute("data-state", "cancelled")
