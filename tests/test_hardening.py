"""A production gateway under TLS: security headers, /metrics behind a token, no CDN docs.

The gateway runs with ``TASKGATE_ENV=production`` (its checks pass: a random secret key,
secure cookies, real host names) and serves https with a certificate of a test CA.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import RequestFactory

from taskgate.cli.redis_server import free_port
from taskgate.monitoring.metrics import metrics
from tests.support import Proc, override_config, wait_until
from tests.test_tls import make_certs

METRICS_TOKEN = secrets.token_urlsafe(24)


def _get(
    url: str, context: ssl.SSLContext, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


@pytest.fixture(scope="module")
def production(
    tmp_path_factory: pytest.TempPathFactory, base_env: dict[str, str], logs_dir: Path
) -> Iterator[tuple[str, ssl.SSLContext]]:
    certs = make_certs(tmp_path_factory.mktemp("certs"))
    port = free_port()
    env = dict(
        base_env,
        TASKGATE_ENV="production",
        TASKGATE_SECRET_KEY=secrets.token_urlsafe(50),
        TASKGATE_ALLOW_ANONYMOUS="0",
        TASKGATE_ALLOWED_HOSTS="127.0.0.1,localhost",
        TASKGATE_METRICS_TOKEN=METRICS_TOKEN,
    )
    argv = [sys.executable, "-m", "taskgate", "gateway", "--port", str(port),
            "--certfile", str(certs.cert), "--keyfile", str(certs.key)]  # fmt: skip
    proc = Proc("gateway-production", argv, env, logs_dir / "gateway-production.log").start()
    trusted = ssl.create_default_context(cafile=str(certs.ca))
    base = f"https://127.0.0.1:{port}"
    try:
        wait_until(lambda: _get(f"{base}/healthz", trusted)[0] == 200, 30, "production gateway")
        yield base, trusted
    finally:
        proc.stop()


def test_the_page_is_never_framed_runs_only_its_own_code_and_pins_https(
    production: tuple[str, ssl.SSLContext],
) -> None:
    base, trusted = production
    status, headers, _ = _get(f"{base}/", trusted)
    assert status == 200
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    assert headers["x-content-type-options"] == "nosniff"


def test_the_cdn_api_docs_are_off_and_the_openapi_document_stays(
    production: tuple[str, ssl.SSLContext],
) -> None:
    base, trusted = production
    status, headers, _ = _get(f"{base}/api/docs", trusted)
    assert (status, headers["content-type"]) == (404, "application/json")
    assert _get(f"{base}/api/openapi.json", trusted)[0] == 200


def test_metrics_need_the_metrics_token(production: tuple[str, ssl.SSLContext]) -> None:
    base, trusted = production
    assert _get(f"{base}/metrics", trusted)[0] == 401
    wrong = {"Authorization": "Bearer not-it"}
    assert _get(f"{base}/metrics", trusted, wrong)[0] == 401
    status, _, body = _get(f"{base}/metrics", trusted, {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200
    assert b"taskgate_open_sockets" in body


def test_metrics_without_a_token_are_refused_in_production_open_in_development() -> None:
    request = RequestFactory().get("/metrics")
    with override_config(env="production", metrics_token=""):
        assert asyncio.run(metrics(request)).status_code == 403
    with override_config(env="development", metrics_token=""):
        assert asyncio.run(metrics(request)).status_code == 200
