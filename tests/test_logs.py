"""One structured log line per job state change, with the job id, in gateway and worker."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from websockets.exceptions import InvalidStatus

from tests.support import Gateway, Proc, client, http_get, wait_until


def _lines(log: str, job_id: str) -> list[str]:
    return [line for line in log.splitlines() if f"job={job_id} " in line]


def test_each_state_change_is_one_key_value_line_in_gateway_and_worker(
    gateway: Gateway, worker: Proc
) -> None:
    with client(f"{gateway.ws}/ws/jobs/") as c:
        job_id = c.submit("demo.echo", {"task_id": "logged", "seconds": 0.5})
        end = c.until_terminal(job_id)[-1]
    assert end["event"] == "success"
    done = f"job={job_id} state=success seq={end['seq']}"
    wait_until(lambda: done in worker.log(), 20, "worker's end line")
    wait_until(lambda: done in gateway.proc.log(), 20, "gateway's end line")

    worker_lines = _lines(worker.log(), job_id)
    assert [re.search(r"state=(\w+)", line)[1] for line in worker_lines] == [  # type: ignore[index]
        "running",
        "success",
    ]
    assert re.search(rf"job={job_id} state=running seq=1 worker=\S+", worker_lines[0])

    gateway_lines = _lines(gateway.proc.log(), job_id)
    states = [re.search(r"state=(\w+)", line)[1] for line in gateway_lines]  # type: ignore[index]
    assert states == ["accepted", "running", "success"]
    assert "seq=0 name=demo.echo" in gateway_lines[0]
    assert all("via=push" in line for line in gateway_lines[1:])


def test_tokens_and_session_keys_never_reach_the_log(
    gateway: Gateway, make_token: Callable[..., str]
) -> None:
    token = make_token("logged-user")
    with client(f"{gateway.ws}/ws/jobs/?token={token}") as c:
        c.ping()
    # A refused token is logged too, by uvicorn's handshake line.
    with pytest.raises(InvalidStatus), client(f"{gateway.ws}/ws/jobs/?token=tg_{'Zq9' * 14}"):
        pass
    _, headers, _ = http_get(f"{gateway.http}/")
    session = next(c for c in headers["set-cookie"].split(", ") if c.startswith("sessionid="))
    key = session.split(";")[0].split("=", 1)[1]
    with client(f"{gateway.ws}/ws/jobs/", additional_headers={"Cookie": f"sessionid={key}"}) as c:
        job_id = c.submit("demo.echo", {"task_id": "anonymous", "seconds": 0})
    wait_until(lambda: f"job={job_id} state=accepted" in gateway.proc.log(), 20, "accepted line")
    log = gateway.proc.log()
    assert "WebSocket /ws/jobs/?token=[redacted]" in log
    assert token not in log
    assert token[10:] not in log
    assert "Zq9" * 14 not in log
    assert key not in log
    (accepted,) = [line for line in log.splitlines() if f"job={job_id} state=accepted" in line]
    assert re.search(r"owner=session:[0-9a-f]{12}$", accepted)
