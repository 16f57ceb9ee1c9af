"""The artifacts store: atomic writes, names that cannot escape, and the sweep of old files."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command

from taskgate.config import get_config
from taskgate.worker.artifacts import ArtifactError, artifact_path, open_artifact, sweep
from tests.support import Gateway, client, http_get, override_config


@pytest.fixture
def artifacts(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "artifacts"
    with override_config(artifacts_dir=root, artifact_max_age=3600.0):
        yield root


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    for item in [path, *path.iterdir()]:
        os.utime(item, (then, then))


def test_open_artifact_writes_atomically_and_describes_the_file(artifacts: Path) -> None:
    with open_artifact("job-1", "out.csv", "text/csv") as (sink, done):
        sink.write("a,b\n")
        assert not (artifacts / "job-1" / "out.csv").exists()  # not there until complete
        sink.write("1,é\n")
    data = "a,b\n1,é\n".encode()
    assert (artifacts / "job-1" / "out.csv").read_bytes() == data
    assert done[0].describe() == {
        "name": "out.csv",
        "content_type": "text/csv",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _write_then_fail(done: list[object]) -> None:
    with open_artifact("job-2", "out.csv", "text/csv") as (sink, described):
        done.append(described)
        sink.write("partial")
        raise RuntimeError("the job failed")


def test_a_failed_write_leaves_no_file(artifacts: Path) -> None:
    done: list[object] = []
    with pytest.raises(RuntimeError):
        _write_then_fail(done)
    assert list((artifacts / "job-2").iterdir()) == []
    assert done == [[]]  # no Artifact was described


@pytest.mark.parametrize("name", ["../x.csv", "a/b.csv", ".hidden", "", "x" * 200, "a..b"])
def test_names_that_could_escape_the_directory_are_refused(artifacts: Path, name: str) -> None:
    with pytest.raises(ArtifactError):
        artifact_path("job", name)
    with pytest.raises(ArtifactError):
        artifact_path(name, "ok.csv")


def test_sweep_removes_only_artifacts_older_than_the_max_age(artifacts: Path) -> None:
    for job_id in ("old", "fresh"):
        with open_artifact(job_id, "f.csv", "text/csv") as (sink, _):
            sink.write("x")
    _age(artifacts / "old", 7200)
    assert sweep() == ["old"]
    assert sorted(p.name for p in artifacts.iterdir()) == ["fresh"]
    out = io.StringIO()
    call_command("cleanup_artifacts", "--max-age", "0", stdout=out)
    assert "removed 1 expired" in out.getvalue()
    assert list(artifacts.iterdir()) == []


def test_a_report_run_by_the_worker_sweeps_expired_artifacts(gateway: Gateway) -> None:
    """The real worker shares the artifacts directory of the test settings."""

    stale = Path(get_config().artifacts_dir) / "expired-job"
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "old.csv").write_text("old")
    _age(stale, get_config().artifact_max_age + 60)
    _status, headers, _ = http_get(f"{gateway.http}/")
    cookie = headers["set-cookie"].split(";")[0]
    with client(f"{gateway.ws}/ws/jobs/", additional_headers={"Cookie": cookie}) as c:
        job_id = c.submit("reports.generate", {"rows": 1000})
        assert c.until_terminal(job_id, timeout=60)[-1]["event"] == "success"
    assert not stale.exists()
    assert (Path(get_config().artifacts_dir) / job_id).is_dir()
