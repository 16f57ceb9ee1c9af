"""``GET /metrics``: Prometheus text whose figures move when jobs run and requests fail."""

from __future__ import annotations

import re

from tests.support import Gateway, Proc, client, http_get


def scrape(gw: Gateway) -> dict[str, float]:
    status, headers, body = http_get(f"{gw.http}/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    samples: dict[str, float] = {}
    for line in body.decode().splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


def test_metrics_change_after_a_job_runs(gateway: Gateway, worker: Proc) -> None:
    before = scrape(gateway)
    for name in (
        "taskgate_open_sockets",
        "taskgate_watched_jobs",
        'taskgate_worker_signals_total{kind="coalesced"}',
        'taskgate_worker_signals_total{kind="push_failed"}',
    ):
        assert name in before, name
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.echo", {"task_id": 5, "seconds": 0.5})
        during = scrape(gateway)
        assert during["taskgate_open_sockets"] >= 1
        assert during["taskgate_watched_jobs"] >= 1
        frames = c.until_terminal(job_id)
        assert frames[-1]["event"] == "success"
        c.send("not json")
        assert c.recv_until(lambda f: f.get("event") == "error")[0]["code"] == "invalid_json"
    after = scrape(gateway)
    push = 'taskgate_events_delivered_total{path="push"}'
    assert after[push] >= before.get(push, 0) + 3  # running, progress..., success
    delays = 'taskgate_event_delay_seconds_count{path="push"}'
    assert after[delays] >= before.get(delays, 0) + 3
    errors = 'taskgate_errors_total{code="invalid_json"}'
    assert after[errors] == before.get(errors, 0) + 1
