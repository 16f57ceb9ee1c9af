"""The one typed settings object (taskgate.config): cast and checked once, named in one place."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from taskgate.config import Config, SettingError
from taskgate.config.fields import spec_of
from taskgate.config.table import settings_table

ROOT = Path(__file__).resolve().parent.parent
NAMES = {spec_of(field).name for field in dataclasses.fields(Config)}


def test_defaults_and_derived_defaults() -> None:
    config = Config.from_environ({})
    assert config.lease_seconds == 10.0
    assert config.result_url == config.redis_url == "redis://127.0.0.1:6379/0"
    assert config.artifacts_dir == Path(".taskgate") / "artifacts"
    assert config.artifact_max_age == 86400.0
    assert config.secure_cookies is False
    assert config.ws_max_size == 1 << 20
    production = Config.from_environ({"TASKGATE_ENV": "production", "REDIS_URL": "redis://r/1"})
    assert production.secure_cookies is True
    assert production.channel_url == "redis://r/1"


def test_values_are_cast_to_their_types() -> None:
    config = Config.from_environ(
        {
            "TASKGATE_LEASE_SECONDS": "2.5",
            "TASKGATE_OUTBOX_SIZE": "7",
            "TASKGATE_ALLOW_ANONYMOUS": "yes",
            "TASKGATE_ALLOWED_HOSTS": "a.example, b.example,",
            "TASKGATE_DATA_DIR": "/srv/tg",
            "TASKGATE_ENV": "Production",
            "TASKGATE_MAX_FRAME_BYTES": "1000000",
        }
    )
    assert config.lease_seconds == 2.5
    assert config.outbox_size == 7
    assert config.allow_anonymous is True
    assert config.allowed_hosts == ("a.example", "b.example")
    assert config.data_dir == Path("/srv/tg")
    assert config.artifacts_dir == Path("/srv/tg/artifacts")
    assert config.env == "production"
    assert config.ws_max_size == 4_000_000


def test_a_project_s_own_settings_come_before_the_environment() -> None:
    project = {"TASKGATE_LEASE_SECONDS": 3, "TASKGATE_JOB_MODULES": ["shop.jobs"]}
    environ = {"TASKGATE_LEASE_SECONDS": "9", "TASKGATE_OUTBOX_SIZE": "5"}
    config = Config.load(lambda name: project.get(name, environ.get(name)))
    assert config.lease_seconds == 3.0
    assert config.job_modules == ("shop.jobs",)
    assert config.outbox_size == 5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TASKGATE_LEASE_SECONDS", "soon", "must be a number"),
        ("TASKGATE_OUTBOX_SIZE", "2.5", "must be an integer"),
        ("TASKGATE_DEBUG", "maybe", "must be a boolean"),
        ("TASKGATE_ENV", "staging", "must be one of development, production"),
        ("TASKGATE_OUTBOX_SIZE", "0", "must be at least 1"),
    ],
)
def test_a_bad_value_is_refused_by_name(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingError, match=f"{name} {message}"):
        Config.from_environ({name: value})


def test_docs_settings_md_is_the_generated_table() -> None:
    text = (ROOT / "docs" / "settings.md").read_text()
    assert settings_table() in text


def test_every_setting_named_in_the_code_and_deployment_is_declared() -> None:
    """No ``TASKGATE_*`` value is read anywhere but through Config (and none is unused)."""
    files = subprocess.run(
        ["git", "ls-files", "gateway", "tasks", "compose.yaml", ".env.example", "Dockerfile"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    named: set[str] = set()
    for name in files:
        named |= set(re.findall(r"\bTASKGATE_[A-Z][A-Z0-9_]*[A-Z0-9]\b", (ROOT / name).read_text()))
    # Names that are not settings of the server: compose's own knobs and the Config object.
    compose_only = {n for n in named if n.startswith(("TASKGATE_GATEWAY_", "TASKGATE_WORKER_"))}
    compose_only |= {"TASKGATE_IMAGE", "TASKGATE_FLOWER_PORT", "TASKGATE_FORWARDED_ALLOW_IPS"}
    compose_only |= {"TASKGATE_HTTP_PORT", "TASKGATE_POSTGRES_PASSWORD"}  # proxy, postgres
    assert named - NAMES - compose_only - {"TASKGATE_CONFIG"} == set()
    source = "\n".join((ROOT / n).read_text() for n in files if n.endswith(".py"))
    assert 'os.environ.get("TASKGATE_' not in source
    assert "settings.TASKGATE_" not in source


def test_every_declared_setting_is_read_somewhere() -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "gateway", "tasks"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    source = "\n".join(
        (ROOT / n).read_text() for n in files if n.endswith(".py") and "config/" not in n
    )
    unread = [f.name for f in dataclasses.fields(Config) if f".{f.name}" not in source]
    assert unread == []
