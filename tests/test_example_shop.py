"""examples/shop, a team's own Django project with taskgate embedded, run for real.

taskgate comes from its wheel, installed into a fresh virtualenv outside the checkout (as in
tests/test_packaging.py); every process of the shop runs with that venv's python, in the
shop's own directory, on a private Redis: ``manage.py migrate``, the shop's own Celery app
(``celery -A shop worker``: taskgate's hooks come from ``"taskgate"`` in INSTALLED_APPS
alone) and ``uvicorn shop.asgi:application``. In Chromium, alice signs in on the shop's login
page, clicks Export and watches ``{% taskgate_progress %}``'s bar fill, then downloads the
file; bob, signed in too, is refused her job over the socket and over HTTP; and the same task
sent with a plain ``.delay()`` still runs to its result.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import site
import sqlite3
import subprocess
import sys
import venv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from websockets.exceptions import InvalidStatus

from taskgate.cli.redis_server import EmbeddedRedis, free_port
from tests.support import Proc, client, http_get, http_json, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "examples" / "shop"
WAIT_MS = 30_000  # generous on a small shared machine; every wait ends on what it waits for
PASSWORDS = {"alice": "alice-sells-tea-1", "bob": "bob-buys-mugs-2"}
ROWS = 2000  # what the Export form sends by default (orders/views.py)

# Installed before the page's own scripts: every state and percent <taskgate-progress> shows.
RECORDER = """(() => {
  window.__shown = [];
  new MutationObserver((records) => {
    for (const record of records) {
      const element = record.target;
      if (element.localName !== "taskgate-progress") continue;
      const percent = element.getAttribute("data-percent");
      window.__shown.push({
        state: element.getAttribute("data-state"),
        percent: percent === null ? null : Number(percent),
      });
    }
  }).observe(document, {
    subtree: true, attributes: true, attributeFilter: ["data-state", "data-percent"],
  });
})();"""


# --- taskgate from its wheel, in a venv outside the checkout ---------------------------------


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with taskgate's wheel installed (not editable); its python.

    As in tests/test_packaging.py: the wheel is built from the checkout, and the
    dependencies come from this run's environment through a plain path entry placed after
    the venv's own site-packages, so the checkout's editable install is never on the path.
    """
    out = tmp_path_factory.mktemp("shop-wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(ROOT), "-w", str(out)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = out.glob("taskgate-*.whl")
    home = tmp_path_factory.mktemp("shop-venv")
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    own = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(own, "zz-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


# --- the shop's processes -------------------------------------------------------------------


@dataclass
class ShopProc(Proc):
    """A process of the shop, started in the shop's own directory."""

    def start(self) -> ShopProc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=PROJECT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        return self

    def end(self) -> None:
        """Stop it (a warm shutdown for the worker), then whatever of its group is left."""
        self.stop()
        if self.process is not None:
            self.kill_group()


@dataclass
class Shop:
    python: Path
    env: dict[str, str]
    data: Path
    logs: Path
    port: int = 0

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``python manage.py ARGS`` in the shop's directory; fails the test on an error."""
        result = subprocess.run(
            [str(self.python), "manage.py", *args],
            cwd=PROJECT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert result.returncode == 0, f"manage.py {' '.join(args[:2])}:\n{result.stderr}"
        return result

    def proc(self, name: str, *args: str) -> ShopProc:
        return ShopProc(name, [str(self.python), *args], self.env, self.logs / f"{name}.log")


def _wait(proc: ShopProc, ready: Callable[[], bool], timeout: float) -> None:
    """Until ``proc`` is ready; fails with its log if it is not, or if it died."""
    problem = ""
    try:
        wait_until(lambda: not proc.alive() or ready(), timeout, f"{proc.name} ready")
    except TimeoutError as exc:
        problem = str(exc)
    if problem or not proc.alive():
        why = problem or f"it exited with {proc.process and proc.process.returncode}"
        pytest.fail(f"{proc.name} did not come up ({why}):\n{proc.log()[-4000:]}")


def _clean_env() -> dict[str, str]:
    """This run's environment without the settings conftest gives taskgate's own stack."""
    drop = ("REDIS_URL", "TASKGATE_", "DJANGO_SETTINGS_MODULE", "PYTHONPATH", "SHOP_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@pytest.fixture(scope="module")
def shop(
    venv_python: Path, tmp_path_factory: pytest.TempPathFactory, logs_dir: Path
) -> Iterator[Shop]:
    """A private Redis, and the shop's database migrated with alice and bob in it."""
    data = tmp_path_factory.mktemp("shop-data")
    redis = EmbeddedRedis(data / "redis", persistent=False).start()
    try:
        env = dict(
            _clean_env(),
            REDIS_URL=redis.url,
            SHOP_DATABASE=str(data / "db.sqlite3"),
            SHOP_EXPORTS_DIR=str(data / "exports"),
            SHOP_SECRET_KEY="shop-tests-only-" + "k" * 40,
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",  # nothing written into the checkout's examples/
        )
        shop = Shop(venv_python, env, data, logs_dir / "shop")
        shop.manage("migrate", "--noinput", "-v", "0")
        for name, password in PASSWORDS.items():
            shop.manage("adduser", name, "--password", password)
        yield shop
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def worker(shop: Shop) -> Iterator[ShopProc]:
    proc = shop.proc(
        "worker", "-m", "celery", "-A", "shop", "worker", "-P", "prefork", "--concurrency", "2",
        "-l", "INFO", "-n", f"shop-{os.getpid()}@%h",
    ).start()  # fmt: skip
    try:
        _wait(proc, lambda: " ready." in proc.log(), 60)
        yield proc
    finally:
        proc.end()


@pytest.fixture(scope="module")
def web(shop: Shop, worker: ShopProc) -> Iterator[Shop]:
    shop.port = free_port()
    proc = shop.proc(
        "web", "-m", "uvicorn", "shop.asgi:application", "--host", "127.0.0.1",
        "--port", str(shop.port),
    ).start()  # fmt: skip
    try:
        _wait(proc, lambda: http_get(f"{shop.http}/accounts/login/")[0] == 200, 30)
        yield shop
    finally:
        proc.end()


# --- the browser ----------------------------------------------------------------------------


def _signed_in(browser: Browser, web: Shop, name: str) -> BrowserContext:
    context = browser.new_context(base_url=web.http, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    context.add_init_script(RECORDER)
    page = context.new_page()
    page.goto("/orders/")  # not signed in: the shop's own login page
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/orders/$"), timeout=WAIT_MS)
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORDS[name])
    page.click("#sign-in")
    expect(page).to_have_url(f"{web.http}/orders/", timeout=WAIT_MS)
    expect(page.locator("#user")).to_have_text(name, timeout=WAIT_MS)
    page.close()
    return context


@pytest.fixture(scope="module")
def alice(browser: Browser, web: Shop) -> Iterator[BrowserContext]:
    context = _signed_in(browser, web, "alice")
    yield context
    context.close()


@pytest.fixture(scope="module")
def bob(browser: Browser, web: Shop) -> Iterator[BrowserContext]:
    context = _signed_in(browser, web, "bob")
    yield context
    context.close()


def _cookie(context: BrowserContext) -> dict[str, str]:
    (session,) = [c for c in context.cookies() if c.get("name") == "sessionid"]
    return {"Cookie": f"sessionid={session.get('value')}"}


def _export(page: Page, web: Shop) -> str:
    """Click Export on the orders page; the job id of the export page it lands on."""
    page.goto("/orders/")
    page.click("#export")
    pattern = re.compile(rf"^{re.escape(web.http)}/orders/exports/([0-9a-f-]{{36}})/$")
    expect(page).to_have_url(pattern, timeout=WAIT_MS)
    found = pattern.match(page.url)
    assert found is not None, page.url
    return found.group(1)


# --- the tests ------------------------------------------------------------------------------


def test_the_shop_runs_taskgate_from_the_wheel_and_its_own_tasks_module(shop: Shop) -> None:
    code = "import taskgate, tasks; print(taskgate.__file__, tasks.__file__)"
    result = subprocess.run(
        [str(shop.python), "-c", code],
        cwd=PROJECT, env=shop.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    taskgate_file, tasks_file = result.stdout.split()
    assert Path(taskgate_file).is_relative_to(shop.python.parent.parent), taskgate_file
    assert Path(tasks_file) == PROJECT / "tasks.py"
    with sqlite3.connect(shop.data / "db.sqlite3") as db:  # taskgate's tables: the shop's DB
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"auth_user", "django_session"} <= tables
    assert any(name.startswith("taskgate_") for name in tables), sorted(tables)


def test_alice_exports_watches_the_bar_fill_and_downloads_the_file(
    alice: BrowserContext, web: Shop, worker: ShopProc
) -> None:
    page = alice.new_page()
    job_id = _export(page, web)
    bar = page.locator("taskgate-progress")
    expect(bar).to_have_attribute("job-id", job_id, timeout=WAIT_MS)
    expect(bar).to_have_attribute("data-state", "success", timeout=WAIT_MS)
    expect(bar.locator(".taskgate-percent")).to_have_text("100 %", timeout=WAIT_MS)
    shown: list[dict[str, Any]] = page.evaluate("window.__shown")
    running = [s["percent"] for s in shown if s["state"] == "running"]
    assert any(p is not None and 0 < p < 100 for p in running), (
        f"the bar never showed a running percent: {shown}\n{worker.log()[-3000:]}"
    )
    percents = [s["percent"] for s in shown if s["percent"] is not None]
    assert percents == sorted(percents), f"the bar went backwards: {percents}"

    status, _, snapshot = http_json("GET", f"{web.http}/taskgate/api/jobs/{job_id}",
                                    headers=_cookie(alice))  # fmt: skip
    assert status == 200, snapshot
    assert (snapshot["state"], snapshot["job"]) == ("success", "tasks.export_orders")
    result = snapshot["result"]
    assert result["rows"] == ROWS
    assert result["artifact"]["name"] == result["file"] == f"orders-{ROWS}.csv"

    link = bar.locator("a.taskgate-download")
    expect(link).to_have_attribute("href", f"/taskgate/api/jobs/{job_id}/artifact", timeout=WAIT_MS)
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == result["file"]
    data = Path(download.path()).read_bytes()
    assert hashlib.sha256(data).hexdigest() == result["sha256"]
    lines = data.decode().splitlines()
    assert lines[0] == "order,date,customer,product,quantity,total"
    assert len(lines) == ROWS + 1
    page.close()


def test_bob_is_refused_alices_export(
    alice: BrowserContext, bob: BrowserContext, web: Shop
) -> None:
    page = alice.new_page()
    job_id = _export(page, web)
    page.close()
    cookie = _cookie(bob)
    socket = f"ws://127.0.0.1:{web.port}/ws/jobs/"
    with client(socket, additional_headers={**cookie, "Origin": web.http}) as c:
        answer = c.request({"op": "watch", "job_id": job_id, "ref": "x"})
    assert (answer["event"], answer["code"], answer["ref"]) == ("error", "forbidden", "x")
    assert http_json("GET", f"{web.http}/taskgate/api/jobs/{job_id}", headers=cookie)[0] == 403
    artifact = f"{web.http}/taskgate/api/jobs/{job_id}/artifact"
    assert http_get(artifact, headers=cookie)[0] == 403
    # His browser on her export page: the element says so instead of showing her bar.
    mine = bob.new_page()
    mine.goto(f"/orders/exports/{job_id}/")
    bar = mine.locator("taskgate-progress")
    expect(bar).to_have_attribute("data-state", "gone", timeout=WAIT_MS)
    expect(bar).to_have_attribute("data-error", "forbidden", timeout=WAIT_MS)
    mine.close()
    # A page of another site may not open the socket with bob's cookie.
    foreign = {**cookie, "Origin": "http://evil.example"}
    with pytest.raises(InvalidStatus) as refused, client(socket, additional_headers=foreign):
        pass
    assert refused.value.response.status_code == 403


def test_a_plain_delay_runs_the_same_task_to_its_result(shop: Shop, worker: ShopProc) -> None:
    code = (
        "import json; from tasks import export_orders\n"
        "outcome = export_orders.delay(40)\n"
        "print(json.dumps({'id': outcome.id, 'result': outcome.get(timeout=60)}))"
    )
    out = shop.manage("shell", "-v", "0", "-c", code, timeout=90).stdout
    done = json.loads(out.strip().splitlines()[-1])
    result = done["result"]
    assert (result["rows"], result["file"]) == (40, "orders-40.csv"), worker.log()[-3000:]
    written = shop.data / "exports" / done["id"] / "orders-40.csv"
    assert hashlib.sha256(written.read_bytes()).hexdigest() == result["sha256"]
    assert result["artifact"]["sha256"] == result["sha256"]


def test_a_token_made_with_the_projects_manage_py_reads_that_users_jobs(web: Shop) -> None:
    made = web.manage("taskgate_token", "create", "alice", "--name", "script")
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("tg_")
    status, _, page = http_json(
        "GET", f"{web.http}/taskgate/api/jobs", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200
    assert {item["job"] for item in page["items"]} <= {"tasks.export_orders"}
    listed = web.manage("taskgate_token", "list", "alice").stdout
    assert "script" in listed
    assert token[:10] in listed
