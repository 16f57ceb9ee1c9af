"""The page's live extras in a real Chromium against the real stack: time left and rate on
the bars (the page's card and the template tag's element), "no progress for N s" for a
stalled job, a signed-in user's jobs on every device, and the notification when a job ends
while the tab is hidden (the browser's permission flow included)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser import SCREENSHOTS, job_card, open_page, start_job
from tests.support import Gateway, Proc, start_gateway

WAIT_MS = 90_000
expect.set_options(timeout=WAIT_MS)

RATE_LINE = re.compile(r"^about \d+ (s|min) left · [\d,]+ rows/s$")


@pytest.fixture(scope="module")
def live(base_env: dict[str, str], logs_dir: Path, worker: Proc) -> Iterator[Gateway]:
    # Stalls are announced after 2 s of silence here (the sweep runs every second).
    env = dict(
        base_env,
        TASKGATE_STALL_FLOOR="2",
        TASKGATE_STALL_MULTIPLE="3",
        TASKGATE_LEASE_SECONDS="1",
    )
    gw = start_gateway(env, logs_dir, name="gateway-live")
    yield gw
    gw.proc.stop()


def _context(browser: Browser, **options: Any) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1100, "height": 800}, **options)
    context.set_default_timeout(WAIT_MS)
    return context


def _add_element(page: Page, job_id: str) -> Any:
    """A <taskgate-progress> for the job, as ``{% taskgate_progress job_id %}`` renders it."""
    page.evaluate(
        """async (id) => {
            await import("/static/taskgate/progress-element.js");
            const element = document.createElement("taskgate-progress");
            element.setAttribute("job-id", id);
            document.querySelector("main").append(element);
        }""",
        job_id,
    )
    return page.locator(f'taskgate-progress[job-id="{job_id}"]')


def test_bars_show_time_left_and_rate_and_say_when_a_job_stalls(
    browser: Browser, live: Gateway
) -> None:
    context = _context(browser)
    page = context.new_page()
    open_page(page, live)
    job_id = start_job(page, "reports.generate", rows=5_000_000)
    card = job_card(page, job_id)
    element = _add_element(page, job_id)
    expect(card.locator(".rate")).to_have_text(RATE_LINE)
    expect(element.locator(".taskgate-eta")).to_have_text(re.compile(r"^about \d+ (s|min) left$"))
    expect(element.locator(".taskgate-rate")).to_have_text(re.compile(r"^[\d,]+ rows/s$"))
    expect(element.locator(".taskgate-separator")).to_be_visible()
    page.wait_for_function(
        """(id) => {
            const card = document.querySelector(`li.job[data-job-id="${id}"]`);
            const value = Number(card.querySelector("progress").getAttribute("value") ?? 0);
            return value > 30 || card.dataset.state !== "running";
        }""",
        arg=job_id,
    )
    shown = card.locator(".rate").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    card.screenshot(path=str(SCREENSHOTS / "eta.png"))  # docs/eta.png is one of these
    card.locator("button.cancel").click()
    expect(card).to_have_attribute("data-state", "cancelled")
    expect(card.locator(".rate")).to_be_hidden()  # nothing is left once it has ended

    stalled_id = start_job(page, "demo.pause", before=3, pause=6, after=2, step=0.1)
    stalled = job_card(page, stalled_id)
    stalled_element = _add_element(page, stalled_id)
    expect(stalled.locator(".stalled")).to_have_text(re.compile(r"^no progress for \d+ s$"))
    expect(stalled_element.locator(".taskgate-stalled")).to_have_text(
        re.compile(r"^no progress for \d+ s$")
    )
    since = stalled.get_attribute("data-stalled")
    assert since
    assert stalled_element.get_attribute("data-stalled") == since
    # Its next progress un-stalls it; then it ends as usual.
    expect(stalled.locator(".stalled")).to_be_hidden()
    expect(stalled).to_have_attribute("data-state", "success")
    expect(stalled_element).to_have_attribute("data-state", "success")
    assert stalled_element.get_attribute("data-stalled") is None
    assert RATE_LINE.match(shown)
    context.close()


def _session_for(username: str) -> str:
    """A signed-in Django session of ``username`` (made if new), as a login would leave it."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )

    user, _ = get_user_model().objects.get_or_create(username=username)
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return str(store.session_key)


def _device(browser: Browser, gateway: Gateway, username: str) -> BrowserContext:
    """A browser of its own (its own cookies and storage), signed in as ``username``."""
    context = _context(browser)
    # Playwright's sync API runs an event loop in this thread: Django's ORM wants another.
    with ThreadPoolExecutor(1) as pool:
        session = pool.submit(_session_for, username).result()
    context.add_cookies([{"name": "sessionid", "value": session, "url": gateway.http}])
    return context


def test_a_signed_in_users_jobs_show_on_every_device(browser: Browser, live: Gateway) -> None:
    laptop = _device(browser, live, "devices-alice")
    phone = _device(browser, live, "devices-alice")
    on_laptop = laptop.new_page()
    open_page(on_laptop, live)
    first = start_job(on_laptop, "demo.echo", task_id="laptop", seconds=3)

    on_phone = phone.new_page()
    open_page(on_phone, live)
    card = job_card(on_phone, first)
    expect(card).to_have_count(1)  # started elsewhere, shown here
    expect(card).to_have_attribute("data-state", "success")
    expect(card.locator(".json")).to_have_text('"laptop"')
    # A job started on the laptop while the phone's page is open shows up there when the
    # phone's tab is shown again.
    second = start_job(on_laptop, "demo.echo", task_id="later", seconds=1)
    on_phone.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(job_card(on_phone, second)).to_have_attribute("data-state", "success")
    assert on_phone.locator("li.job").count() == 2

    # Anonymous use stays per tab: a second tab of the same anonymous browser shows nothing.
    anonymous = _context(browser)
    tab = anonymous.new_page()
    open_page(tab, live)
    start_job(tab, "demo.echo", task_id="anon", seconds=0.2)
    other_tab = anonymous.new_page()
    open_page(other_tab, live)
    expect(other_tab.locator("#no-jobs")).to_be_visible()
    assert other_tab.locator("li.job").count() == 0
    assert tab.evaluate("document.documentElement.dataset.taskgateUser") == ""
    for context in (laptop, phone, anonymous):
        context.close()


# Stands between the page and the browser's Notification: the permission starts out as
# "default" (never asked), each ask is counted, and each notification made is kept.
NOTIFICATION_SPY = """(() => {
  const Real = window.Notification;
  let permission = sessionStorage.getItem("spy.permission") ?? "default";
  window.__asked = 0;
  window.__notes = [];
  class Spy extends Real {
    constructor(title, options = {}) {
      window.__notes.push({ title, body: options.body, tag: options.tag });
      super(title, options);
    }
    static get permission() { return permission; }
    static async requestPermission() {
      window.__asked += 1;
      permission = await Real.requestPermission();
      sessionStorage.setItem("spy.permission", permission);
      return permission;
    }
  }
  window.Notification = Spy;
})();"""


def _hide(page: Page) -> None:
    page.evaluate(
        """() => {
            const hidden = { configurable: true, get: () => "hidden" };
            Object.defineProperty(document, "visibilityState", hidden);
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )


def test_a_job_that_ends_while_the_tab_is_hidden_notifies(browser: Browser, live: Gateway) -> None:
    context = _context(browser)
    context.grant_permissions(["notifications"], origin=live.http)
    context.add_init_script(NOTIFICATION_SPY)
    page = context.new_page()
    open_page(page, live)
    toggle = page.locator("#notify-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).not_to_be_checked()  # off by default
    shown_while_off = start_job(page, "demo.echo", task_id="off", seconds=0.2)
    expect(job_card(page, shown_while_off)).to_have_attribute("data-state", "success")

    toggle.check()
    page.wait_for_function("window.__asked === 1")
    expect(toggle).to_be_checked()
    job_id = start_job(page, "demo.echo", task_id="hidden", seconds=2)
    _hide(page)
    expect(job_card(page, job_id)).to_have_attribute("data-state", "success")
    page.wait_for_function("window.__notes.length === 1")
    notes = page.evaluate("window.__notes")
    assert notes == [{"title": "demo.echo finished", "body": f"Job {job_id}", "tag": job_id}]
    # Switched off and on again: the browser already said yes, nobody is asked twice; and
    # after a reload the choice is still on.
    toggle.uncheck()
    toggle.check()
    assert page.evaluate("window.__asked") == 1
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-status", "open")
    assert page.evaluate("window.__asked") == 0  # a new page: the spy counts afresh
    expect(page.locator("#notify-toggle")).to_be_checked()
    context.close()
