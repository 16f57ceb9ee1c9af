"""Every answer under /api is JSON; a bad Host is one log line; clients gone mid-write are
not errors."""

from __future__ import annotations

import socket
import struct
import urllib.request

import pytest

from tests.support import Gateway, client, http_get, http_json, wait_until


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("DELETE", "/api/jobs", 405, "invalid_message"),
        ("PUT", "/api/jobs/abc", 405, "invalid_message"),
        ("PATCH", "/api/jobs/abc/cancel", 405, "invalid_message"),
        ("POST", "/api/job-types", 403, "forbidden"),  # CSRF, before the method is looked at
        ("GET", "/api/nothing/here", 404, "not_found"),
    ],
)
def test_refusals_django_makes_are_json_under_api(
    gateway: Gateway, method: str, path: str, status: int, code: str
) -> None:
    got, headers, body = http_json(
        method, f"{gateway.http}{path}", body=b"{}" if method != "GET" else None
    )
    assert (got, headers["content-type"], body["code"]) == (status, "application/json", code)
    if status == 405:
        assert headers["allow"]


def test_a_bad_host_is_a_json_400_and_one_log_line(gateway: Gateway) -> None:
    # A host no other test uses: the gateway (and its log) is shared by the whole session.
    host = "json-errors.evil.example"
    request = urllib.request.Request(f"{gateway.http}/api/jobs", headers={"Host": host})
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("served a host it does not answer to")
    except urllib.error.HTTPError as exc:
        status, content_type, body = exc.code, exc.headers["Content-Type"], exc.read()
    assert (status, content_type) == (400, "application/json")
    assert b'"code": "invalid_message"' in body
    wait_until(lambda: f"Invalid HTTP_HOST header: '{host}'" in gateway.proc.log(), 10, "log")
    lines = [line for line in gateway.proc.log().splitlines() if host in line]
    assert len(lines) == 1
    assert "Traceback" not in gateway.proc.log().split(lines[0])[1][:2000]


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_watchers_that_vanish_mid_stream_leave_no_traceback(gateway: Gateway) -> None:
    _, headers, _ = http_get(f"{gateway.http}/")
    cookie = next(c for c in headers["set-cookie"].split(", ") if c.startswith("sessionid="))
    session = {"Cookie": cookie.split(";")[0]}  # one owner for every socket below
    start = len(gateway.proc.log())
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=session) as owner:
        # long enough to outlast the loop on a slow machine; cancelled once the loop is done
        job_id = owner.submit("demo.echo", {"task_id": "long", "seconds": 300})
        for _ in range(40):
            with client(f"{gateway.ws}/ws/jobs/", additional_headers=session) as watcher:
                watcher.request({"op": "watch", "job_id": job_id})
                watcher.recv_until(lambda f: f.get("event") == "progress", 30)
                _reset(watcher.ws.socket)  # gone, while the gateway writes to it
        owner.send({"op": "cancel", "job_id": job_id})
        assert owner.until_terminal(job_id, timeout=120)[-1]["event"] == "cancelled"
    log = gateway.proc.log()[start:]
    assert "Traceback" not in log
    assert "Task exception was never retrieved" not in log
