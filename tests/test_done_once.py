"""What the progress path and a job's end do once instead of each time, against the suite's
real Redis and database: the store script's own connection (ScriptRunner: a script Redis
forgot is sent again, a connection Redis dropped is made again), the cached meta of a report
(it follows its request), and the end's row write prepared before the fork."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import hiredis
import pytest
import redis
from celery.app.task import Context
from django.db import connection as db_connection

from taskgate.contract.keys import seq_key
from taskgate.events import emit, redis_client
from taskgate.events.redis_client import READ_AFTER, ScriptRunner, Superseded, result_redis
from taskgate.models import Job, mark_finished, prepare_end_writes
from taskgate.serve.celery_app import app
from tests.support import Gateway

_COUNTER = """
local n = redis.call('INCR', KEYS[1])
return {n, ARGV[1]}
"""


def _client_id(runner: ScriptRunner) -> int:
    """The server-side id of the runner's own connection (CLIENT ID on that connection)."""
    runner.connect()
    connection: Any = runner._connection
    connection.send_command("CLIENT", "ID")
    return int(connection.read_response())


def test_a_script_redis_forgot_is_sent_again(redis_url: str) -> None:
    runner = ScriptRunner(_COUNTER)
    key = f"runner-{uuid.uuid4()}"
    assert runner([key], ["a"]) == [1, b"a"]
    result_redis().script_flush()
    assert runner([key], ["b"]) == [2, b"b"]  # NOSCRIPT, then EVAL (which loads it again)
    assert runner([key], ["c"]) == [3, b"c"]
    assert result_redis().script_exists(runner._sha) == [True]


def test_a_connection_redis_dropped_is_made_again_and_the_run_happens_once(
    redis_url: str,
) -> None:
    runner = ScriptRunner(_COUNTER)
    key = f"runner-{uuid.uuid4()}"
    assert runner([key], ["a"]) == [1, b"a"]
    first = _client_id(runner)
    assert result_redis().client_kill_filter(_id=str(first)) == 1
    assert runner([key], ["b"]) == [2, b"b"]  # a new connection, the script run once
    assert _client_id(runner) != first
    assert int(result_redis().get(key) or 0) == 2


def test_an_error_of_the_script_is_raised_not_retried(redis_url: str) -> None:
    runner = ScriptRunner("redis.call('INCR', KEYS[1]) return redis.error_reply('refused')")
    key = f"runner-{uuid.uuid4()}"
    with pytest.raises(redis.ResponseError, match=r"^refused$"):
        runner([key], [])
    assert int(result_redis().get(key) or 0) == 1  # run once: an error is not retried


def test_runs_sent_without_waiting_are_answered_in_order_when_read(redis_url: str) -> None:
    runner = ScriptRunner(_COUNTER)
    key = f"runner-{uuid.uuid4()}"
    answers: list[Any] = []
    runner.send([key], ["a"], answers.append)
    runner.send([key], ["b"], answers.append)
    assert answers == []  # not read yet: nothing waited for them
    runner.wait()
    assert answers == [[1, b"a"], [2, b"b"]]
    assert runner([key], ["c"]) == [3, b"c"]  # a waited run after them, on the same connection

    # Past READ_AFTER unread runs, a send reads the answers of all but itself.
    answers.clear()
    for n in range(READ_AFTER + 1):
        runner.send([key], [str(n)], answers.append)
    assert answers == [[4 + n, str(n).encode()] for n in range(READ_AFTER)]
    runner.wait()
    assert answers[-1] == [4 + READ_AFTER, str(READ_AFTER).encode()]


def test_answers_older_than_read_within_are_read_at_the_next_send(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_client, "READ_WITHIN", 0.05)
    runner = ScriptRunner(_COUNTER)
    key = f"runner-{uuid.uuid4()}"
    answers: list[Any] = []
    runner.send([key], ["a"], answers.append)
    runner.send([key], ["b"], answers.append)
    assert answers == []
    time.sleep(0.1)  # the oldest unread is now older than READ_WITHIN
    runner.send([key], ["c"], answers.append)
    assert answers == [[1, b"a"], [2, b"b"]]


def test_runs_a_forgotten_script_refused_are_all_sent_again(redis_url: str) -> None:
    runner = ScriptRunner(_COUNTER)
    key = f"runner-{uuid.uuid4()}"
    runner.connect()
    result_redis().script_flush()
    answers: list[Any] = []
    for step in ("p1", "p2", "p3"):
        runner.send([key], [step], answers.append, key="job")  # refused: none of them ran
    runner.wait()
    assert answers == [[1, b"p1"], [2, b"p2"], [3, b"p3"]]  # each, in order, not superseded


def test_a_lost_connection_sends_again_only_the_newest_run_of_each_key(redis_url: str) -> None:
    runner = ScriptRunner(_COUNTER)
    key = f"runner-{uuid.uuid4()}"
    first = _client_id(runner)
    assert result_redis().client_kill_filter(_id=str(first)) == 1
    answers: list[Any] = []
    # Sent on the connection Redis dropped: found out at a later send or at the read, then
    # sent again on a new one.
    runner.send([key], ["x1"], answers.append, key="job")
    runner.send([key], ["x2"], answers.append, key="job")  # supersedes x1
    runner.send([key], ["y"], answers.append)  # no key: never superseded
    runner.wait()
    assert len(answers) == 3
    assert isinstance(answers[0], Superseded)
    assert answers[1:] == [[1, b"x2"], [2, b"y"]]  # x1 never ran
    assert int(result_redis().get(key) or 0) == 2
    assert _client_id(runner) != first


def test_runs_sent_without_waiting_survive_a_lost_script_and_a_lost_connection(
    redis_url: str,
) -> None:
    runner = ScriptRunner(_COUNTER)
    key = f"runner-{uuid.uuid4()}"
    answers: list[Any] = []
    runner.send([key], ["a"], answers.append)
    runner.wait()
    result_redis().script_flush()
    runner.send([key], ["b"], answers.append)  # refused (NOSCRIPT): sent again with EVAL
    runner.send([key], ["c"], answers.append)
    runner.wait()
    assert answers == [[1, b"a"], [2, b"b"], [3, b"c"]]

    # Redis dropped the connection: a run sent on it is run again on a new one.
    runner.send([key], ["d"], answers.append)
    first = _client_id_after_wait(runner)
    assert result_redis().client_kill_filter(_id=str(first)) == 1
    runner.send([key], ["e"], answers.append)
    runner.wait()
    assert answers[3:] == [[4, b"d"], [5, b"e"]]
    assert int(result_redis().get(key) or 0) == 5
    assert _client_id(runner) != first


def test_an_error_of_a_run_sent_without_waiting_is_its_answer(redis_url: str) -> None:
    runner = ScriptRunner("redis.call('INCR', KEYS[1]) return redis.error_reply('refused')")
    key = f"runner-{uuid.uuid4()}"
    answers: list[Any] = []
    runner.send([key], [], answers.append)
    runner.wait()
    assert len(answers) == 1
    assert isinstance(answers[0], redis.ResponseError)
    assert str(answers[0]) == "refused"
    assert int(result_redis().get(key) or 0) == 1  # run once: an error is not retried


def _client_id_after_wait(runner: ScriptRunner) -> int:
    runner.wait()
    return _client_id(runner)


def _sent_parts(template: Any) -> list[bytes]:
    """What the template's runs send first, after the script: the number of keys, the four
    keys, then the meta before and after its result, and the rest of the shared arguments."""
    reader = hiredis.Reader()
    reader.feed(template.prepared.packed)
    parts: list[bytes] = []
    while (part := reader.gets()) is not False:
        parts.append(part)
    return parts


def _decoded(template: Any, result: Any) -> dict[str, Any]:
    """The meta a template makes around ``result``."""
    parts = _sent_parts(template)
    assert parts[0] == b"4"
    text = parts[5].decode() + json.dumps(result) + parts[6].decode()
    decoded: dict[str, Any] = json.loads(text)
    return decoded


def test_the_cached_meta_follows_its_request_and_children() -> None:
    backend: Any = app.backend
    job_id = f"meta-{uuid.uuid4()}"
    request = Context(id=job_id, task="demo.echo", args=[1], kwargs={}, children=[])
    first = emit._template(backend, request, "PROGRESS", job_id)
    assert emit._template(backend, request, "PROGRESS", job_id) is first  # cached
    meta = _decoded(first, {"n": 1})
    assert meta["status"] == "PROGRESS"
    assert meta["task_id"] == job_id
    assert meta["result"] == {"n": 1}
    assert meta["children"] == []
    keys = _sent_parts(first)[1:3]
    assert keys[0] == backend.get_key_for_task(job_id)
    assert keys[1] == seq_key(job_id).encode()

    # A child added to the same request: the meta is made again and lists it.
    child = app.AsyncResult(f"{job_id}-child")
    children: list[Any] = request.children  # Context keeps a copy of what it was given
    children.append(child)
    with_child = _decoded(emit._template(backend, request, "PROGRESS", job_id), None)
    assert len(with_child["children"]) == 1
    assert job_id + "-child" in json.dumps(with_child["children"])

    # A new request (a retry) with another parent and as many children: the meta is that
    # request's (the request itself, not only its children, decides).
    retried = Context(id=job_id, task="demo.echo", parent_id="the-parent", children=[])
    retried_children: list[Any] = retried.children
    retried_children.append(child)
    again = _decoded(emit._template(backend, retried, "PROGRESS", job_id), None)
    assert len(again["children"]) == 1
    assert again.get("parent_id") == "the-parent"

    # Another state of the same job is its own meta.
    started = _decoded(emit._template(backend, retried, "STARTED", job_id), None)
    assert started["status"] == "STARTED"


def test_the_end_write_is_prepared_without_the_database_then_written_once(
    gateway: Gateway,  # the suite's database is migrated by then
) -> None:
    """A worker prepares the end's UPDATE before it forks (taskgate.worker.signals): that
    must not open a database connection the pool processes would inherit."""
    db_connection.close()
    prepare_end_writes()
    assert db_connection.connection is None
    job_id = f"end-{uuid.uuid4()}"
    Job.objects.create(id=job_id, job="demo.echo", owner="tests")
    assert mark_finished(job_id, "success") is True
    assert mark_finished(job_id, "failure") is False  # the first end stays
    assert Job.objects.get(id=job_id).state == "success"
