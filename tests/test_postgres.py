"""The database-bound behaviour against a private PostgreSQL (``DATABASE_URL=postgres://``).

One stack for the module: its own PostgreSQL and Redis, ``migrate`` from an empty database,
a real worker and gateway. Records, ownership, tokens, sessions, lost-settling and one job end
to end, each read back from PostgreSQL itself; then PostgreSQL restarted under a running job.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskgate.cli.redis_server import EmbeddedRedis
from tests.postgres_server import PrivatePostgres, find_pg_bin
from tests.support import (
    PYTHON,
    Gateway,
    Proc,
    bearer,
    client,
    start_gateway,
    start_worker,
    wait_until,
)
from tests.test_ownership import WS, Caller, _anonymous_session

PG_BIN = find_pg_bin()
pytestmark = pytest.mark.skipif(
    PG_BIN is None, reason="PostgreSQL (initdb, pg_ctl) is not installed"
)


@dataclass
class PgStack:
    pg: PrivatePostgres
    env: dict[str, str]
    gateway: Gateway
    worker: Proc
    migrate_output: str
    logs: Path

    def taskgate(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.taskgate_with()(*args)

    def taskgate_with(self, **env: str) -> Callable[..., subprocess.CompletedProcess[str]]:
        """The ``taskgate`` command with these variables changed."""

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*PYTHON, *args],
                env={**self.env, **env},
                capture_output=True,
                text=True,
                timeout=60,
            )

        return run

    def token(self, username: str) -> str:
        made = self.taskgate("token", "create", username, "--create-user", "--name", "pg")
        assert made.returncode == 0, made.stderr
        return made.stdout.strip()

    def ended(self, job_id: str) -> tuple[object, ...]:
        """The row's (state, finished?) once its end is written: the worker (or the gateway,
        for a lost job) writes it just after pushing the event, so the watcher may be first."""
        return tuple(
            wait_until(
                lambda: self.row(job_id)[3] and self.row(job_id)[2:],
                10,
                f"the end of {job_id} in its row",
            )
        )

    def row(self, job_id: str) -> tuple[object, ...]:
        (found,) = self.pg.execute(
            "SELECT job, owner, state, finished IS NOT NULL FROM taskgate_job WHERE id = %s",
            job_id,
        )
        return found


@pytest.fixture(scope="module")
def pg_stack(base_env: dict[str, str], logs_dir: Path) -> Iterator[PgStack]:
    assert PG_BIN is not None
    pg = PrivatePostgres(PG_BIN).start()
    redis = EmbeddedRedis(pg.root / "redis", persistent=False).start()
    logs = logs_dir / "postgres"
    stack: PgStack | None = None
    try:
        env = dict(
            base_env,
            DATABASE_URL=pg.url,
            REDIS_URL=redis.url,
            TASKGATE_LEASE_SECONDS="2",
        )
        migrate = subprocess.run(
            [*PYTHON, "manage", "migrate", "--noinput"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        worker = start_worker(env, logs, name="pg-worker", concurrency=2)
        try:
            gateway = start_gateway(env, logs, name="pg-gateway")
        except BaseException:
            worker.kill_group()
            raise
        stack = PgStack(pg, env, gateway, worker, migrate.stdout, logs)
        yield stack
    finally:
        if stack is not None:
            for proc in (stack.gateway.proc, stack.worker):
                if proc.alive():
                    proc.kill_group()
        redis.stop()
        pg.stop()


def test_migrate_from_empty_creates_every_table_in_postgres(pg_stack: PgStack) -> None:
    assert "Applying taskgate.0001" in pg_stack.migrate_output
    tables = {
        name
        for (name,) in pg_stack.pg.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
    }
    assert {"taskgate_job", "taskgate_apitoken", "auth_user", "django_session"} <= tables
    plan = pg_stack.taskgate("manage", "showmigrations", "--plan")
    assert plan.returncode == 0, plan.stderr
    assert "[ ]" not in plan.stdout  # nothing left unapplied
    assert "[X]  taskgate." in plan.stdout


def test_tokens_records_and_ownership_live_in_postgres(pg_stack: PgStack) -> None:
    gw = pg_stack.gateway
    alice = Caller("alice", bearer(pg_stack.token("pg-alice")))
    bob = Caller("bob", bearer(pg_stack.token("pg-bob")))
    (count,) = pg_stack.pg.execute(
        "SELECT count(*) FROM taskgate_apitoken t JOIN auth_user u ON u.id = t.user_id"
        " WHERE u.username IN ('pg-alice', 'pg-bob') AND t.revoked IS NULL"
    )
    assert count == (2,)

    status, _, body = alice.api(
        gw, "POST", "", {"job": "demo.echo", "params": {"task_id": "pg", "seconds": 0.2}}
    )
    assert status == 202, body
    job_id = body["job_id"]
    job, owner, _, _ = pg_stack.row(job_id)
    assert job == "demo.echo"
    assert str(owner).startswith("user:")

    with alice.ws(gw) as c:
        c.send({"op": "watch", "job_id": job_id})
        assert c.until_terminal(job_id)[-1]["event"] == "success"
    assert pg_stack.ended(job_id) == ("success", True)  # the end is recorded, by the worker

    assert bob.api(gw, "GET", f"/{job_id}")[0] == 403
    assert job_id in [j["job_id"] for j in alice.api(gw, "GET", "")[2]["items"]]
    assert job_id not in [j["job_id"] for j in bob.api(gw, "GET", "")[2]["items"]]

    (line,) = pg_stack.taskgate("token", "list", "pg-bob").stdout.splitlines()
    revoked = pg_stack.taskgate("token", "revoke", line.split()[0])
    assert revoked.returncode == 0, revoked.stderr
    assert bob.api(gw, "GET", "")[0] == 401


def test_an_anonymous_session_is_stored_in_postgres_and_owns_its_job(pg_stack: PgStack) -> None:
    gw = pg_stack.gateway
    anonymous = _anonymous_session(gw)
    session_key = anonymous.headers["Cookie"].split("sessionid=")[1].split(";")[0]
    assert pg_stack.pg.execute(
        "SELECT 1 FROM django_session WHERE session_key = %s", session_key
    ) == [(1,)]
    with anonymous.ws(gw) as c:
        job_id = c.submit("demo.echo", {"task_id": "anon", "seconds": 0})
        assert c.until_terminal(job_id)[-1]["event"] == "success"
    assert pg_stack.row(job_id)[1] == f"session:{session_key}"
    stranger = _anonymous_session(gw)
    assert stranger.api(gw, "GET", f"/{job_id}")[0] == 403


def test_a_lost_job_settles_in_postgres(pg_stack: PgStack) -> None:
    with client(pg_stack.gateway.ws + WS) as c:
        job_id = c.submit("demo.echo", {"task_id": "lost", "seconds": 60})
        c.recv_until(lambda f: f.get("job_id") == job_id and f.get("event") == "progress")
        pg_stack.worker.kill_group()  # kill -9 of the module's only worker, pool included
        end = c.until_terminal(job_id, timeout=30)[-1]
    # The gateway settled it (its lease ran out) and wrote the end to the row itself.
    assert end["event"] == "failure"
    assert end["error"]["type"] == "lost"
    assert pg_stack.ended(job_id) == ("failure", True)
    pg_stack.worker = start_worker(pg_stack.env, pg_stack.logs, name="pg-worker-2")


def test_a_postgres_restart_mid_job_the_end_reaches_its_watcher_and_its_row(
    pg_stack: PgStack,
) -> None:
    with client(pg_stack.gateway.ws + WS) as c:
        job_id = c.submit("demo.echo", {"task_id": "restart", "seconds": 2})
        c.recv_until(lambda f: f.get("job_id") == job_id and f.get("event") == "progress")
        pg_stack.pg.restart()  # -m fast: every connection of gateway and worker is cut
        frames = c.until_terminal(job_id, timeout=30)
        assert frames[-1]["event"] == "success"
        assert frames[-1]["result"] == "restart"
        # The gateway's own connections were cut too: the next submit records its row.
        after = c.submit("demo.echo", {"task_id": "after", "seconds": 0})
        assert c.until_terminal(after)[-1]["event"] == "success"
        assert pg_stack.ended(job_id) == ("success", True)
        assert pg_stack.ended(after) == ("success", True)

        # Now the job ends while PostgreSQL is down: the push does not wait for the database,
        # and the worker's write of the end is retried until it is back.
        outage = c.submit("demo.echo", {"task_id": "outage", "seconds": 1})
        c.recv_until(lambda f: f.get("job_id") == outage and f.get("event") == "progress")
        pg_stack.pg.halt()
        try:
            assert c.until_terminal(outage, timeout=30)[-1]["event"] == "success"
        finally:
            pg_stack.pg.resume()
    assert pg_stack.ended(outage) == ("success", True)
    assert "could not record its end (success), attempt 1" in pg_stack.worker.log()


def test_doctor_checks_postgres_connects_and_its_migrations(pg_stack: PgStack) -> None:
    from tests.test_doctor import lines

    healthy = pg_stack.taskgate("doctor", "--timeout", "1")
    database = lines(healthy.stdout)["database"]
    assert database.startswith("ok"), healthy.stdout
    assert f"PostgreSQL at 127.0.0.1:{pg_stack.pg.port}/taskgate" in database
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr

    pg_stack.pg.execute("CREATE DATABASE unmigrated")
    empty = pg_stack.taskgate_with(DATABASE_URL=pg_stack.pg.url.rsplit("/", 1)[0] + "/unmigrated")(
        "doctor", "--timeout", "1"
    )
    database = lines(empty.stdout)["database"]
    assert database.startswith("PROBLEM"), empty.stdout
    assert "not applied" in database
    assert "taskgate manage migrate" in database
    assert empty.returncode == 1

    pg_stack.pg.halt()
    try:
        down = pg_stack.taskgate("doctor", "--timeout", "1")
    finally:
        pg_stack.pg.resume()
    database = lines(down.stdout)["database"]
    assert database.startswith("PROBLEM"), down.stdout
    assert "refused" in database
    assert "DATABASE_URL" in database
