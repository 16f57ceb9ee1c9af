"""Who may see which job: two users, an anonymous session and staff, over both transports.

Every way to reach a job (watch, cancel, snapshot, events, list) answers ``forbidden`` /
403 for someone else's job, except for staff. The artifact download (``GET
/api/jobs/{id}/artifact``) comes with the reports issue; it uses the same
``taskgate.jobs.access.owned_record`` check, and its test belongs in ``OWNER_ONLY`` below.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.support import (
    TERMINAL,
    EventStream,
    Gateway,
    bearer,
    client,
    http_json,
    wait_until,
)

WS = "/ws/jobs/"
# Endpoints that must refuse someone else's job: (method, path under /api/jobs/{id}).
OWNER_ONLY = [("GET", ""), ("POST", "/cancel"), ("GET", "/events")]
# (owner, someone else): user and user, user and anonymous session, and back.
STRANGERS = [("alice", "bob"), ("bob", "anonymous"), ("anonymous", "alice")]


@dataclass
class Caller:
    """One identity, as HTTP headers and as WebSocket handshake headers."""

    name: str
    headers: dict[str, str]
    csrf: dict[str, str] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)

    def ws(self, gateway: Gateway) -> Any:
        return client(gateway.ws + WS, additional_headers=self.headers)

    def api(self, gateway: Gateway, method: str, path: str, body: Any = None) -> Any:
        headers = {**self.headers, **(self.csrf if method == "POST" else {})}
        return http_json(method, f"{gateway.http}/api/jobs{path}", body, headers)


def _refused(url: str, **kwargs: Any) -> int:
    """The HTTP status of a WebSocket handshake that must be refused."""
    with pytest.raises(InvalidStatus) as refused, client(url, **kwargs):
        pass
    return refused.value.response.status_code


def _anonymous_session(gateway: Gateway) -> Caller:
    with urllib.request.urlopen(f"{gateway.http}/", timeout=10) as page:
        cookies = dict(
            header.split(";")[0].split("=", 1) for header in page.headers.get_all("Set-Cookie")
        )
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items() if k in ("sessionid", "csrftoken"))
    return Caller("anonymous", {"Cookie": cookie}, {"X-CSRFToken": cookies["csrftoken"]})


@pytest.fixture(scope="module")
def callers(gateway: Gateway, make_token: Callable[..., str]) -> dict[str, Caller]:
    """alice and bob (tokens), an anonymous browser session, and staff; each with one
    finished job submitted over the WebSocket and one over HTTP."""
    people = {
        "alice": Caller("alice", bearer(make_token("alice"))),
        "bob": Caller("bob", bearer(make_token("bob"))),
        "anonymous": _anonymous_session(gateway),
        "staff": Caller("staff", bearer(make_token("carol", staff=True))),
    }
    for caller in people.values():
        with caller.ws(gateway) as c:
            job_id = c.submit("demo.echo", {"task_id": caller.name, "seconds": 0.1})
            assert c.until_terminal(job_id)[-1]["event"] == "success"
        status, _, body = caller.api(
            gateway, "POST", "", {"job": "demo.echo", "params": {"task_id": 1, "seconds": 0}}
        )
        assert status == 202, body
        caller.jobs = [job_id, body["job_id"]]
    return people


def test_each_caller_sees_only_their_own_jobs_over_http(
    gateway: Gateway, callers: dict[str, Caller]
) -> None:
    everyone = {job for caller in callers.values() for job in caller.jobs}
    for caller in callers.values():
        status, _, page = caller.api(gateway, "GET", "?limit=100")
        assert status == 200, page
        listed = {item["job_id"] for item in page["items"]}
        assert listed & everyone == set(caller.jobs), caller.name
        for job_id in caller.jobs:
            status, _, snapshot = caller.api(gateway, "GET", f"/{job_id}")
            assert status == 200
            assert snapshot["event"] == "snapshot"
            assert snapshot["job_id"] == job_id


@pytest.mark.parametrize(("owner", "other"), STRANGERS)
def test_someone_elses_job_is_forbidden_over_http(
    gateway: Gateway, callers: dict[str, Caller], owner: str, other: str
) -> None:
    job_id = callers[owner].jobs[0]
    for method, path in OWNER_ONLY:
        status, _, body = callers[other].api(gateway, method, f"/{job_id}{path}")
        assert status == 403, (method, path, body)
        assert body["code"] == "forbidden"
        assert body["job_id"] == job_id


@pytest.mark.parametrize(("owner", "other"), STRANGERS)
def test_someone_elses_job_is_forbidden_over_the_websocket(
    gateway: Gateway, callers: dict[str, Caller], owner: str, other: str
) -> None:
    job_id = callers[owner].jobs[1]  # submitted over HTTP, refused over the socket
    with callers[other].ws(gateway) as c:
        for op in ("watch", "cancel"):
            answer = c.request({"op": op, "job_id": job_id})
            assert answer["event"] == "error"
            assert answer["code"] == "forbidden", answer
    with callers[owner].ws(gateway) as c:
        snapshot = c.request({"op": "watch", "job_id": job_id})
    assert snapshot["event"] == "snapshot"
    assert snapshot["state"] in TERMINAL


def test_staff_sees_everyones_jobs(gateway: Gateway, callers: dict[str, Caller]) -> None:
    staff = callers["staff"]
    others = [job for name, c in callers.items() if name != "staff" for job in c.jobs]
    status, _, page = staff.api(gateway, "GET", "?scope=all&limit=100")
    assert status == 200
    assert set(others) <= {item["job_id"] for item in page["items"]}
    with staff.ws(gateway) as c:
        for job_id in others:
            assert c.request({"op": "watch", "job_id": job_id})["event"] == "snapshot"
    for job_id in others:
        assert staff.api(gateway, "GET", f"/{job_id}")[0] == 200
        assert staff.api(gateway, "POST", f"/{job_id}/cancel")[0] == 202
        stream = EventStream(f"{gateway.http}/api/jobs/{job_id}/events", staff.headers)
        assert stream.status == 200
        assert [e["event"] for e in stream.events()] == ["snapshot"]  # terminal: then the end
        stream.close()
    # Listing everyone's jobs is for staff only.
    status, _, body = callers["alice"].api(gateway, "GET", "?scope=all")
    assert status == 403
    assert body["code"] == "forbidden"


def test_a_token_works_on_both_transports_as_header_and_query(
    gateway: Gateway, make_token: Callable[..., str]
) -> None:
    token = make_token("dora")
    with client(f"{gateway.ws}{WS}?token={token}") as c:
        job_id = c.submit("demo.echo", {"task_id": 3, "seconds": 0})
        c.until_terminal(job_id)
    with client(gateway.ws + WS, additional_headers=bearer(token)) as c:
        assert c.request({"op": "watch", "job_id": job_id})["state"] == "success"
    status, _, snapshot = http_json(
        "GET", f"{gateway.http}/api/jobs/{job_id}", headers=bearer(token)
    )
    assert status == 200
    assert snapshot["result"] == 3
    status, _, page = http_json("GET", f"{gateway.http}/api/jobs?token={token}")
    assert status == 200
    assert [item["job_id"] for item in page["items"]] == [job_id]


def test_a_revoked_token_stops_working_on_new_connections(
    gateway: Gateway, make_token: Callable[..., str]
) -> None:
    from taskgate.auth.tokens import revoke_token

    token = make_token("erin")
    with client(gateway.ws + WS, additional_headers=bearer(token)) as c:
        c.ping()
    assert http_json("GET", f"{gateway.http}/api/jobs", headers=bearer(token))[0] == 200
    revoke_token(token)
    assert _refused(gateway.ws + WS, additional_headers=bearer(token)) == 403
    assert _refused(f"{gateway.ws}{WS}?token={token}") == 403
    status, headers, body = http_json("GET", f"{gateway.http}/api/jobs", headers=bearer(token))
    assert status == 401
    assert body["code"] == "unauthorized"
    assert headers["www-authenticate"].startswith("Bearer")


def test_an_unknown_token_is_refused_not_treated_as_anonymous(gateway: Gateway) -> None:
    assert _refused(gateway.ws + WS, additional_headers=bearer("tg_not-a-real-token")) == 403
    status, _, _ = http_json(
        "POST", f"{gateway.http}/api/jobs", {"job": "demo.echo"}, bearer("tg_not-a-real-token")
    )
    assert status == 401


def test_a_socket_path_with_no_route_is_refused_and_logged(gateway: Gateway) -> None:
    assert _refused(f"{gateway.ws}/ws/nothing-here/") == 403
    wait_until(lambda: "unknown path '/ws/nothing-here/'" in gateway.proc.log(), 10, "log line")
    with client(gateway.ws + WS) as c:  # the routes that exist still answer
        c.ping()


def test_handshake_with_a_foreign_origin_is_refused(gateway: Gateway) -> None:
    assert _refused(gateway.ws + WS, origin="http://evil.example") == 403
    with client(gateway.ws + WS, origin=f"http://127.0.0.1:{gateway.port}") as c:
        c.ping()


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another port on the same host
        "https://127.0.0.1",  # another scheme and port
        "ftp://127.0.0.1",  # not a web origin at all
        "null",  # a sandboxed page
        "http://127.0.0.1.evil.example",
    ],
)
def test_an_origin_that_differs_in_scheme_host_or_port_is_refused(
    gateway: Gateway, origin: str
) -> None:
    cookie = _anonymous_session(gateway).headers
    assert _refused(gateway.ws + WS, origin=origin, additional_headers=cookie) == 403


def test_a_host_header_that_is_not_allowed_is_refused_even_with_a_matching_origin(
    gateway: Gateway,
) -> None:
    """DNS rebinding: a page of rebound.example talks to us under its own name."""
    rebound = f"rebound.example:{gateway.port}"
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    assert _refused(f"ws://{rebound}{WS}", origin=f"http://{rebound}", sock=sock) == 403


def test_session_writes_over_http_need_the_csrf_token(
    gateway: Gateway, callers: dict[str, Caller]
) -> None:
    anonymous = callers["anonymous"]
    status, _, body = http_json(
        "POST",
        f"{gateway.http}/api/jobs",
        {"job": "demo.echo", "params": {"task_id": 1}},
        anonymous.headers,
    )
    assert status == 403
    assert "CSRF" in body["message"]


def test_with_anonymous_use_off_only_signed_in_callers_get_in(
    idle_gateway: Gateway, make_token: Callable[..., str]
) -> None:
    assert _refused(idle_gateway.ws + WS) == 403
    assert _refused(idle_gateway.ws + "/async_task/") == 403
    status, headers, body = http_json("GET", f"{idle_gateway.http}/api/jobs")
    assert (status, body["code"]) == (401, "unauthorized")
    assert headers["www-authenticate"].startswith("Bearer")
    status, _, _ = http_json("POST", f"{idle_gateway.http}/api/jobs", {"job": "demo.echo"})
    assert status == 401
    token = make_token("insider")
    with client(idle_gateway.ws + WS, additional_headers=bearer(token)) as c:
        c.ping()
    assert http_json("GET", f"{idle_gateway.http}/api/jobs", headers=bearer(token))[0] == 200


def _signed_in_session(username: str) -> dict[str, str]:
    """The cookies a Django login leaves behind (as the host project's login page would)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    user = User.objects.filter(username=username).first() or User.objects.create_user(username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    csrf = "c" * 32
    return {"Cookie": f"sessionid={session.session_key}; csrftoken={csrf}", "X-CSRFToken": csrf}


def test_a_signed_in_browser_session_and_the_users_token_are_one_owner(
    gateway: Gateway, make_token: Callable[..., str], callers: dict[str, Caller]
) -> None:
    browser = _signed_in_session("frank")
    token = bearer(make_token("frank"))
    with client(gateway.ws + WS, additional_headers={"Cookie": browser["Cookie"]}) as c:
        job_id = c.submit("demo.echo", {"task_id": 6, "seconds": 0})
        c.until_terminal(job_id)
    status, _, accepted = http_json(
        "POST", f"{gateway.http}/api/jobs", {"job": "demo.echo", "params": {"task_id": 6}}, browser
    )
    assert status == 202
    for headers in (browser, token):
        status, _, page = http_json("GET", f"{gateway.http}/api/jobs", headers=headers)
        assert {item["job_id"] for item in page["items"]} == {job_id, accepted["job_id"]}
    with client(gateway.ws + WS, additional_headers=token) as c:
        assert c.request({"op": "watch", "job_id": job_id})["event"] == "snapshot"
    status, _, body = callers["bob"].api(gateway, "GET", f"/{job_id}")
    assert (status, body["code"]) == (403, "forbidden")
