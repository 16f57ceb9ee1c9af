"""``taskgate doctor`` against a private Redis the test starts and stops (never the shared one)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from taskgate.cli.redis_server import EmbeddedRedis
from tests.support import PYTHON, start_worker


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYTHON, "doctor", "--timeout", "3"], env=env, capture_output=True, text=True, timeout=120
    )


def lines(output: str) -> dict[str, str]:
    """check name -> its line, for the check lines ("ok"/"PROBLEM" first)."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("ok", "PROBLEM"):
            for name in ("redis", "broker", "worker", "channel layer", "database", "sentinel"):
                if rest.strip().startswith(name):
                    found[name] = line
    return found


@pytest.mark.slow
def test_doctor_reports_a_stopped_worker_and_a_stopped_redis(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", persistent=False).start()
    env = dict(base_env, REDIS_URL=redis.url)
    try:
        worker = start_worker(env, tmp_path, name="doctor-worker", concurrency=1)
        try:
            healthy = doctor(env)
            assert healthy.returncode == 0, healthy.stdout + healthy.stderr
            found = lines(healthy.stdout)
            assert set(found) == {"redis", "broker", "worker", "channel layer", "database"}
            assert all(line.startswith("ok") for line in found.values()), healthy.stdout
            assert "doctor-worker" in found["worker"]
            assert "all checks passed" in healthy.stdout
        finally:
            worker.stop()

        no_worker = doctor(env)
        assert no_worker.returncode == 1, no_worker.stdout
        found = lines(no_worker.stdout)
        assert found["worker"].startswith("PROBLEM")
        assert "no Celery worker answered" in found["worker"]
        assert "taskgate worker" in found["worker"]  # what to do about it
        for name in ("redis", "broker", "channel layer", "database"):
            assert found[name].startswith("ok"), found[name]
    finally:
        redis.stop()

    no_redis = doctor(env)
    assert no_redis.returncode == 1, no_redis.stdout
    found = lines(no_redis.stdout)
    assert found["redis"].startswith("PROBLEM")
    assert "cannot reach Redis" in found["redis"]
    assert "refused" in found["redis"]
    assert found["broker"].startswith("PROBLEM")
    assert found["worker"].startswith("PROBLEM")
    assert "broker is unreachable" in found["worker"]
    assert found["channel layer"].startswith("PROBLEM")
    assert "1 problem" not in no_redis.stdout
    assert "4 problem(s) found" in no_redis.stdout
