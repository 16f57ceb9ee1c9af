"""The page at ``/``, the job catalogue and the static files, over real HTTP (DEBUG off)."""

from __future__ import annotations

import json

from tests.support import Gateway, http_get


def test_index_gives_a_session_and_loads_the_client(gateway: Gateway) -> None:
    status, headers, body = http_get(f"{gateway.http}/")
    assert status == 200
    assert headers["set-cookie"].startswith("sessionid=")
    page = body.decode()
    assert '<script type="module" src="/static/taskgate/page.js">' in page
    assert 'id="job-list"' in page
    assert 'name="viewport"' in page


def test_job_types_lists_every_job_with_its_parameter_schema(gateway: Gateway) -> None:
    status, headers, body = http_get(f"{gateway.http}/api/job-types")
    assert status == 200
    assert headers["content-type"] == "application/json"
    types = {item["name"]: item for item in json.loads(body)["job_types"]}
    assert {"demo.echo", "demo.fail", "reports.generate"} <= set(types)
    rows = types["reports.generate"]["params"]["properties"]["rows"]
    assert (rows["default"], rows["minimum"], rows["maximum"]) == (200_000, 1, 5_000_000)
    assert types["demo.echo"]["params"]["required"] == ["task_id"]
    assert types["reports.generate"]["description"]


def test_static_modules_are_served_with_debug_off(gateway: Gateway) -> None:
    for name in ("client.js", "backoff.js", "sequence.js", "page.js"):
        status, headers, body = http_get(f"{gateway.http}/static/taskgate/{name}")
        assert status == 200, name
        assert headers["content-type"].startswith("text/javascript")
        assert b"export" in body or b"import" in body
    status, headers, _ = http_get(f"{gateway.http}/static/taskgate/page.css")
    assert status == 200
    assert headers["content-type"].startswith("text/css")
    assert http_get(f"{gateway.http}/static/taskgate/missing.js")[0] == 404
