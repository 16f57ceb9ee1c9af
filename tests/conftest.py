"""Test set-up: a private Redis for the whole run, then a real worker and gateway on it.

The Redis is started in ``pytest_configure``, before anything imports the Django settings,
so the settings of this process (and of every child process) point at it. Nothing here uses
the machine's own Redis or RabbitMQ.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from taskgate.cli.redis_server import EmbeddedRedis, free_port
from tests.browser import chromium
from tests.support import Gateway, Proc, start_gateway, start_worker

# The fault tests' fixture (a private Redis per test): tests/fault_stack.py.
pytest_plugins = ("tests.fault_stack",)

_redis: EmbeddedRedis | None = None
_tmp: tempfile.TemporaryDirectory[str] | None = None

# A port nothing listens on: a Redis that is "down".
DEAD_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"


def pytest_configure(config: pytest.Config) -> None:
    global _redis, _tmp
    _tmp = tempfile.TemporaryDirectory(prefix="taskgate-tests-")
    root = Path(_tmp.name)
    _redis = EmbeddedRedis(root / "redis", persistent=False).start()
    os.environ.update(
        {
            "REDIS_URL": _redis.url,
            "DJANGO_SETTINGS_MODULE": "taskgate.serve.settings",
            "TASKGATE_DATA_DIR": str(root / "data"),
            "TASKGATE_SECRET_KEY": "tests-only-secret-key-" + "x" * 40,
            "TASKGATE_ALLOW_ANONYMOUS": "1",
            "TASKGATE_JOB_MODULES": "taskgate.examples,tests.plain_tasks",
            # Every test client is 127.0.0.1: the per-address limits of anonymous use would
            # stop the suite (tests/test_anonymous_limits.py tests them on their own).
            "TASKGATE_ANONYMOUS_SUBMIT_RATE": "100000",
            "TASKGATE_ANONYMOUS_SUBMIT_BURST": "100000",
            "TASKGATE_ANONYMOUS_SESSION_RATE": "100000",
            "TASKGATE_ANONYMOUS_SESSION_BURST": "100000",
            # Likewise the caps on open sockets and streams (tests/test_edge_limits.py).
            "TASKGATE_MAX_STREAMS_PER_ADDRESS": "100000",
            "TASKGATE_MAX_STREAMS_PER_PRINCIPAL": "100000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    os.environ.setdefault("TASKGATE_LOG_LEVEL", "INFO")
    os.environ.pop("TASKGATE_CHANNEL_URL", None)
    os.environ.pop("TASKGATE_BROKER_URL", None)
    os.environ.pop("TASKGATE_RESULT_URL", None)
    # Set up once the environment names the private Redis: test modules use the app's models,
    # Celery app and registry (loaded by the app config, as in every process of the stack).
    import django

    django.setup()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _redis is not None:
        _redis.stop()
    if _tmp is not None:
        _tmp.cleanup()


@pytest.fixture(scope="session")
def redis_url() -> str:
    assert _redis is not None
    return _redis.url


@pytest.fixture(scope="session")
def logs_dir() -> Path:
    path = Path(os.environ.get("TASKGATE_TEST_LOGS", "test-artifacts/logs")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def base_env() -> dict[str, str]:
    from taskgate.cli import main as cli_main

    cli_main(["manage", "migrate", "--noinput", "-v", "0"])
    return dict(os.environ)


@pytest.fixture(scope="session")
def worker(base_env: dict[str, str], logs_dir: Path) -> Iterator[Proc]:
    proc = start_worker(base_env, logs_dir, concurrency=3)
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def gateway(base_env: dict[str, str], logs_dir: Path, worker: Proc) -> Iterator[Gateway]:
    """The shared gateway. Its fallback poll is slowed to an hour, so every event a test on it
    receives came through the channel layer: these tests prove the push path."""
    env = dict(
        base_env,
        TASKGATE_FALLBACK_INTERVAL="3600",
        TASKGATE_LAYER_PROBE_INTERVAL="3600",
        TASKGATE_MAX_WATCHES_PER_SOCKET="6",
        TASKGATE_SUBMIT_RATE="5",
        TASKGATE_SUBMIT_BURST="10",
        TASKGATE_MAX_FRAME_BYTES="4096",
    )
    gw = start_gateway(env, logs_dir)
    yield gw
    gw.proc.stop()


@pytest.fixture(scope="session")
def make_token(base_env: dict[str, str]) -> Callable[..., str]:
    """``make_token(username, staff=False)``: a live API token (the user is made if new)."""
    from taskgate.auth.tokens import create_token

    def make(username: str, *, staff: bool = False) -> str:
        return create_token(username, "tests", create_user=True, staff=staff)

    return make


@pytest.fixture(scope="session")
def idle_redis_url(redis_url: str) -> str:
    return redis_url.rsplit("/", 1)[0] + "/3"


@pytest.fixture(scope="session")
def idle_gateway(
    base_env: dict[str, str], idle_redis_url: str, logs_dir: Path
) -> Iterator[Gateway]:
    """A gateway on Redis database 3 with no worker: what it dispatches stays on the queue,
    so a test can count exactly what was dispatched. Anonymous use is off (as in
    production); three submits per principal, then one every 1000 s."""
    env = dict(
        base_env,
        REDIS_URL=idle_redis_url,
        TASKGATE_ALLOW_ANONYMOUS="0",
        TASKGATE_PRINCIPAL_SUBMIT_BURST="3",
        TASKGATE_PRINCIPAL_SUBMIT_RATE="0.001",
    )
    gw = start_gateway(env, logs_dir, name="gateway-idle")
    yield gw
    gw.proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium (through Playwright), one per module that asks for it."""
    with chromium() as launched:
        yield launched
