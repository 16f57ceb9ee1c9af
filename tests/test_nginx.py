"""nginx for real: the example of docs/deployment.md in front of a gateway (https, wss), and
compose's proxy (deploy/nginx.conf) in front of two replicas (WebSockets, SSE).

Skipped where nginx is not installed (it is no Python package; Debian's ``nginx-light``).
"""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.sync.client import connect

from taskgate.cli.redis_server import free_port
from tests.support import (
    TERMINAL,
    Client,
    EventStream,
    Gateway,
    bearer,
    http_get,
    http_json,
    start_gateway,
    wait_until,
)
from tests.test_tls import make_certs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "deployment.md"
COMPOSE_PROXY = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def docs_config() -> str:
    match = re.search(r"```nginx\n(.*?)```", DOCS.read_text(), re.S)
    assert match, "docs/deployment.md has no nginx example"
    return match.group(1)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
def test_the_documented_nginx_config_proxies_https_and_wss(
    tmp_path: Path, gateway: Gateway
) -> None:
    certs = make_certs(tmp_path)
    http_port, https_port = free_port(), free_port()
    site = docs_config()
    # Only addresses, names and files change; every proxy directive is the documented one.
    site = re.sub(
        r"upstream taskgate \{.*?\n\}",
        (f"upstream taskgate {{\n    server 127.0.0.1:{gateway.port};\n}}"),
        site,
        flags=re.S,
    )
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = site.replace("server_name jobs.example.com;", "server_name localhost;")
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {certs.cert};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {certs.key};", site)
    assert str(gateway.port) in site
    assert f"{https_port} ssl" in site
    nginx = start_nginx(tmp_path, site)
    trusted = ssl.create_default_context(cafile=str(certs.ca))
    try:

        def ready() -> bool:
            with urllib.request.urlopen(
                f"https://localhost:{https_port}/readyz", timeout=5, context=trusted
            ) as response:
                return int(response.status) == 200

        wait_until(ready, 30, "nginx in front of the gateway")
        # Plain http is redirected to https.
        opener = urllib.request.build_opener(NoRedirect())
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(f"http://127.0.0.1:{http_port}/ws/jobs/", timeout=5)
        assert redirect.value.code == 301
        assert redirect.value.headers["Location"].startswith("https://")

        with connect(
            f"wss://localhost:{https_port}/ws/jobs/", ssl=trusted, open_timeout=10, close_timeout=5
        ) as ws:
            c = Client(ws)
            job_id = c.submit("demo.echo", {"task_id": "via-nginx", "seconds": 0.5})
            frames = c.until_terminal(job_id)
        assert frames[-1]["event"] == "success"
        assert frames[-1]["result"] == "via-nginx"
        assert "progress" in {f["event"] for f in frames}
        assert "/ws/jobs/" in (tmp_path / "access.log").read_text()  # it went through nginx
    finally:
        nginx.terminate()
        nginx.wait(15)


def start_nginx(tmp_path: Path, site: str) -> subprocess.Popen[bytes]:
    """nginx with ``site`` in its http block, every file under ``tmp_path``; the access log
    names the upstream that served each request."""
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log info;\n"
        "daemon off;\nevents {}\n"
        "http {\n    log_format upstream '$request $status $upstream_addr';\n"
        f"    access_log {tmp_path}/access.log upstream;\n"
        f"    client_body_temp_path {tmp_path}/body;\n    proxy_temp_path {tmp_path}/proxy;\n"
        f"{site}\n}}\n"
    )
    assert NGINX is not None
    check = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    return subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(conf)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
def test_the_compose_proxy_config_fronts_two_replicas_for_websockets_and_sse(
    tmp_path: Path,
    gateway: Gateway,
    base_env: dict[str, str],
    logs_dir: Path,
    make_token: Callable[..., str],
) -> None:
    """deploy/nginx.conf (compose's `proxy`), with only the replicas' addresses and the port
    swapped: requests spread over both, a socket upgrades, an event stream is not buffered."""
    second = start_gateway(base_env, logs_dir, name="gateway-behind-nginx")
    try:
        port = free_port()
        site = COMPOSE_PROXY.read_text()
        site, swapped = re.subn(
            r"server gateway:8000 ([^;]*);",
            rf"server 127.0.0.1:{gateway.port} \1;\n    server 127.0.0.1:{second.port} \1;",
            site,
        )
        assert swapped == 1
        site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
        nginx = start_nginx(tmp_path, site)
        front = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: http_get(f"{front}/readyz")[0] == 200, 30, "nginx up")
            for _ in range(6):
                assert http_get(f"{front}/healthz")[0] == 200
            served = (tmp_path / "access.log").read_text()
            # Round robin: both replicas answered through the one front door.
            assert f"127.0.0.1:{gateway.port}" in served
            assert f"127.0.0.1:{second.port}" in served

            with connect(f"ws://127.0.0.1:{port}/ws/jobs/", open_timeout=10) as ws:
                c = Client(ws)
                job_id = c.submit("demo.echo", {"task_id": "front-door", "seconds": 0.5})
                frames = c.until_terminal(job_id)
            assert frames[-1]["result"] == "front-door"
            assert "progress" in {f["event"] for f in frames}

            token = bearer(make_token("behind-nginx"))
            status, _, body = http_json(
                "POST",
                f"{front}/api/jobs",
                {"job": "demo.echo", "params": {"task_id": "sse", "seconds": 3}},
                token,
            )
            assert status == 202, body
            stream = EventStream(f"{front}/api/jobs/{body['job_id']}/events", token)
            try:
                assert stream.status == 200
                events = stream.events()
                first = next(events)
                # Not buffered: the first event is here while the job still runs.
                snapshot = http_json("GET", f"{front}/api/jobs/{body['job_id']}", None, token)
                assert snapshot[2]["state"] not in TERMINAL, (first, snapshot)
                rest = list(events)
            finally:
                stream.close()
            assert rest[-1]["event"] == "success"
            assert rest[-1]["result"] == "sse"
        finally:
            nginx.terminate()
            nginx.wait(15)
    finally:
        second.proc.stop()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
