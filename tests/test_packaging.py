"""What a user installs is the wheel: one import name, every file, served from anywhere.

The wheel is built from the checkout and installed, non-editable, into a fresh virtualenv
outside it (its dependencies come from the test run's own environment, added after the
wheel's site-packages, so the checkout's editable install is never on the path). From an
empty directory that holds a project's own ``tasks.py`` and ``gateway.py`` (Celery's
first-steps layout), ``taskgate up`` starts the stack, serves the page and the JS client,
and runs a job.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskgate.cli.redis_server import free_port
from tests.support import client, http_get, wait_until

ROOT = Path(__file__).resolve().parent.parent

# Where each part of the one package comes from in the checkout.
SOURCES = {
    "taskgate": ROOT / "gateway" / "taskgate",
    "taskgate/config": ROOT / "tasks" / "taskgate" / "config",
    "taskgate/contract": ROOT / "tasks" / "taskgate" / "contract",
    "taskgate/events": ROOT / "tasks" / "taskgate" / "events",
    "taskgate/examples": ROOT / "tasks" / "taskgate" / "examples",
    "taskgate/worker": ROOT / "tasks" / "taskgate" / "worker",
    "taskgate/static/taskgate": ROOT / "frontend" / "src",
    "taskgate/templates/taskgate": ROOT / "frontend" / "templates" / "taskgate",
}


def _checkout_files() -> set[str]:
    files: set[str] = set()
    for prefix, folder in SOURCES.items():
        for path in folder.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files.add(f"{prefix}/{path.relative_to(folder).as_posix()}")
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(ROOT), "-w", str(out)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (found,) = out.glob("taskgate-*.whl")
    return found


def test_the_wheel_holds_one_top_level_package_with_every_source_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = [name for name in archive.namelist() if ".dist-info/" not in name]
        top_level = next(n for n in archive.namelist() if n.endswith("top_level.txt"))
        assert archive.read(top_level).decode().split() == ["taskgate"]
    assert {name.split("/")[0] for name in names} == {"taskgate"}
    assert set(names) == _checkout_files()


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed; returns its bin directory."""
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    own = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # The dependencies, from this run's environment, after the wheel's own site-packages;
    # a plain path entry, so the editable install's .pth files there are not processed.
    Path(own, "zz-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return home / "bin"


def _run(bin_dir: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "python"), "-c", code],
        cwd=cwd, capture_output=True, text=True, timeout=60, env=_clean_env(),
    )  # fmt: skip


def _clean_env() -> dict[str, str]:
    drop = ("REDIS_URL", "TASKGATE_", "DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A team's directory: its own tasks.py and gateway.py, which must never be imported."""
    for name in ("tasks", "gateway"):
        (tmp_path / f"{name}.py").write_text(
            f"raise RuntimeError('the project\\'s own {name}.py was imported by taskgate')\n"
        )
    return tmp_path


def test_the_installed_package_is_taskgate_alone(installed: Path, project: Path) -> None:
    result = _run(
        installed,
        "import taskgate, taskgate.worker.registry as r; print(taskgate.__file__)\n"
        "import importlib.util as u\n"
        "print(u.find_spec('tasks').origin, u.find_spec('gateway').origin)",
        project,
    )
    assert result.returncode == 0, result.stderr
    where, tasks_origin = result.stdout.splitlines()[0], result.stdout.splitlines()[1]
    assert Path(where).is_relative_to(installed.parent), where  # the wheel, not the checkout
    # The only tasks and gateway modules in sight are the project's own.
    assert tasks_origin.split() == [str(project / "tasks.py"), str(project / "gateway.py")]


@pytest.fixture
def stack(installed: Path, project: Path) -> Iterator[int]:
    port = free_port()
    log_path = project / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [str(installed / "taskgate"), "up", "--port", str(port), "--no-flower"],
            cwd=project, env=_clean_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(
            lambda: "press Ctrl-C to stop" in log_path.read_text() or up.poll() is not None,
            120,
            "taskgate up ready",
        )
        assert up.poll() is None, log_path.read_text()[-3000:]
        yield port
    finally:
        up.terminate()
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()


@pytest.mark.slow
def test_taskgate_up_from_the_wheel_serves_the_page_the_client_and_runs_a_job(
    stack: int, project: Path
) -> None:
    base = f"http://127.0.0.1:{stack}"
    status, headers, body = http_get(f"{base}/")
    assert status == 200
    assert b"/static/taskgate/page.js" in body
    status, headers, body = http_get(f"{base}/static/taskgate/client.js")
    assert status == 200
    assert headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert b"export class TaskgateClient" in body
    with client(f"ws://127.0.0.1:{stack}/ws/jobs/") as c:
        job_id = c.submit("demo.echo", {"task_id": "from-the-wheel", "seconds": 0.3})
        assert c.until_terminal(job_id)[-1]["result"] == "from-the-wheel"
    assert (project / ".taskgate").is_dir()  # its data next to the project, not in a checkout
