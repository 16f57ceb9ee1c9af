"""The HTTP API against the real stack: submit, snapshot, list, cancel, errors, OpenAPI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support import TERMINAL, Gateway, bearer, client, http_json, wait_until

Submit = Callable[..., tuple[int, dict[str, str], Any]]


def _wait_end(gateway: Gateway, token: str, job_id: str) -> dict[str, Any]:
    """Watch the job over the socket until it ends; returns its last frame."""
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=bearer(token)) as c:
        last = c.request({"op": "watch", "job_id": job_id})
        if last["state"] not in TERMINAL:
            last = c.until_terminal(job_id)[-1]
    return last


@pytest.fixture(scope="module")
def token(make_token: Callable[..., str]) -> str:
    return make_token("api-user")


@pytest.fixture
def submit(gateway: Gateway, token: str) -> Submit:
    def post(body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        return http_json("POST", f"{gateway.http}/api/jobs", body, headers or bearer(token))

    return post


def test_submit_then_snapshot_has_the_socket_snapshot_fields(
    gateway: Gateway, token: str, submit: Submit
) -> None:
    status, _, accepted = submit({"job": "demo.echo", "params": {"task_id": 5, "seconds": 0}})
    assert status == 202
    assert accepted["event"] == "accepted"
    assert accepted["job"] == "demo.echo"
    job_id = accepted["job_id"]
    _wait_end(gateway, token, job_id)
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=bearer(token)) as c:
        socket_snapshot = c.request({"op": "watch", "job_id": job_id})
    status, _, snapshot = http_json(
        "GET", f"{gateway.http}/api/jobs/{job_id}", headers=bearer(token)
    )
    assert status == 200
    assert snapshot["state"] == "success"
    assert snapshot["result"] == 5
    assert snapshot == {k: v for k, v in socket_snapshot.items() if k != "ref"}


def test_the_worker_records_the_end_in_the_database(
    gateway: Gateway, token: str, submit: Submit
) -> None:
    from taskgate.models import Job

    _, _, accepted = submit({"job": "demo.fail", "params": {"steps": 1, "seconds_per_step": 0}})
    job_id = accepted["job_id"]
    assert _wait_end(gateway, token, job_id)["event"] in ("failure", "snapshot")
    # The worker writes the row right after it pushes the end (nothing else writes it here:
    # no job list was asked for), so give it a moment to land.
    row = wait_until(
        lambda: Job.objects.filter(id=job_id, finished__isnull=False).first(), 15, "row finished"
    )
    assert row.state == "failure"
    assert row.finished is not None
    assert row.finished >= row.created
    assert row.job == "demo.fail"
    assert row.params == {
        "steps": 1,
        "seconds_per_step": 0.0,
        "message": "demo.fail failed on purpose",
    }


def test_list_is_newest_first_and_paginated(
    gateway: Gateway, make_token: Callable[..., str]
) -> None:
    token = make_token("lister")
    submitted = []
    for i in range(3):
        status, _, body = http_json(
            "POST",
            f"{gateway.http}/api/jobs",
            {"job": "demo.echo", "params": {"task_id": i, "seconds": 0}},
            bearer(token),
        )
        assert status == 202
        submitted.append(body["job_id"])
    url = f"{gateway.http}/api/jobs"
    _, _, first = http_json("GET", f"{url}?limit=2", headers=bearer(token))
    _, _, second = http_json("GET", f"{url}?limit=2&offset=2", headers=bearer(token))
    assert [item["job_id"] for item in first["items"]] == submitted[:0:-1]
    assert first["next_offset"] == 2
    assert [item["job_id"] for item in second["items"]] == submitted[:1]
    assert second["next_offset"] is None
    item = second["items"][0]
    assert item["job"] == "demo.echo"
    assert item["params"] == {"task_id": 0, "seconds": 0.0}
    assert item["expired"] is False
    assert item["state"] in {"queued", "running", "success"}


def test_cancel_over_http_ends_a_running_job_cancelled(
    gateway: Gateway, token: str, submit: Submit
) -> None:
    with client(f"{gateway.ws}/ws/jobs/", additional_headers=bearer(token)) as c:
        job_id = c.submit("demo.echo", {"task_id": 1, "seconds": 30})
        c.recv_until(lambda f: f.get("event") == "progress")
        status, _, snapshot = http_json(
            "POST", f"{gateway.http}/api/jobs/{job_id}/cancel", headers=bearer(token)
        )
        assert status == 202
        assert snapshot["job_id"] == job_id
        assert c.until_terminal(job_id, timeout=20)[-1]["event"] == "cancelled"


def test_expired_and_unknown_jobs_are_told_apart(
    gateway: Gateway, redis_url: str, token: str, submit: Submit, make_token: Callable[..., str]
) -> None:
    from taskgate.contract.keys import record_key, seq_key
    from taskgate.serve.celery_app import app

    _, _, accepted = submit({"job": "demo.echo", "params": {"task_id": 2, "seconds": 0}})
    job_id = accepted["job_id"]
    _wait_end(gateway, token, job_id)
    # What Redis' expiry would do once the results expire.
    backend: Any = app.backend
    keys = [record_key(job_id), seq_key(job_id), backend.get_key_for_task(job_id)]
    redis.Redis.from_url(redis_url).delete(*keys)
    url = f"{gateway.http}/api/jobs/{job_id}"
    status, _, body = http_json("GET", url, headers=bearer(token))
    assert status == 404
    assert body["code"] == "not_found"
    assert body["details"]["reason"] == "expired"
    assert body["details"]["state"] == "success"
    status, _, body = http_json("GET", f"{gateway.http}/api/jobs/never-was", headers=bearer(token))
    assert status == 404
    assert body["details"] == {"reason": "unknown"}
    # Someone else learns nothing: an expired job of another owner is still forbidden.
    assert http_json("GET", url, headers=bearer(make_token("nosy")))[0] == 403


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "invalid_json"),
        (b'{"job": "demo.echo", "params": {"task_id": NaN}}', 400, "invalid_json"),
        ([1, 2], 400, "invalid_message"),
        ({"params": {}}, 400, "invalid_message"),
        ({"job": 7}, 400, "invalid_message"),
        ({"job": "demo.echo", "params": [1]}, 400, "invalid_message"),
        ({"job": "no.such.job"}, 400, "unknown_job"),
        ({"job": "demo.echo", "params": {"seconds": 601}}, 400, "invalid_params"),
        ({"job": "demo.echo", "params": {"task_id": 1, "pad": "x" * 5000}}, 413, "too_large"),
    ],
)
def test_submit_refusals_use_the_socket_error_codes(
    submit: Submit, body: Any, status: int, code: str
) -> None:
    got, _, answer = submit(body)
    assert (got, answer["code"]) == (status, code), answer
    assert answer["message"]
    if code == "invalid_params":
        assert {d["field"] for d in answer["details"]} == {"task_id", "seconds"}


def test_a_job_id_longer_than_the_protocol_allows_is_an_invalid_message(
    gateway: Gateway, token: str
) -> None:
    status, _, body = http_json("GET", f"{gateway.http}/api/jobs/{'x' * 65}", headers=bearer(token))
    assert (status, body["code"]) == (400, "invalid_message")


def test_an_anonymous_client_owns_what_it_submitted_through_its_new_session(
    gateway: Gateway,
) -> None:
    status, headers, accepted = http_json(
        "POST", f"{gateway.http}/api/jobs", {"job": "demo.echo", "params": {"task_id": 1}}
    )
    assert status == 202
    cookie = headers["set-cookie"].split(";")[0]
    assert cookie.startswith("sessionid=")
    url = f"{gateway.http}/api/jobs/{accepted['job_id']}"
    assert http_json("GET", url, headers={"Cookie": cookie})[0] == 200
    assert http_json("GET", url)[0] == 403  # no session: owns nothing


def test_openapi_document_lists_the_endpoints(gateway: Gateway) -> None:
    status, _, schema = http_json("GET", f"{gateway.http}/api/openapi.json")
    assert status == 200
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert set(paths["/api/jobs"]) == {"get", "post"}
    assert "get" in paths["/api/jobs/{job_id}"]
    assert "post" in paths["/api/jobs/{job_id}/cancel"]
    events = paths["/api/jobs/{job_id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    idle_gateway: Gateway, make_token: Callable[..., str], logs_dir: Path
) -> None:
    """Fuzz the API from its own OpenAPI document (against a gateway whose jobs never run)."""
    token = make_token("fuzzer")
    checks = ",".join(
        [
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_headers_conformance",
            "response_schema_conformance",
            "negative_data_rejection",
        ]
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{idle_gateway.http}/api/openapi.json",
            "--checks",
            checks,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "4",
            "--request-timeout",
            "20",
            "--header",
            f"Authorization: Bearer {token}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=logs_dir,
    )
    (logs_dir / "schemathesis.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:]


@pytest.mark.parametrize("path", ["/api/nothing-here", "/api/jobs/a/b/c"])
def test_unknown_api_urls_answer_not_found_as_json(gateway: Gateway, path: str) -> None:
    status, headers, body = http_json("GET", f"{gateway.http}{path}")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert body["code"] == "not_found"
