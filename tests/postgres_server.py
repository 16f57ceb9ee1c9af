"""A private PostgreSQL for the tests: ``initdb`` + ``pg_ctl`` on a free port in a temporary
directory (trust auth on loopback, its unix socket in that directory), stopped and removed at
the end. Never the machine's own PostgreSQL on 5432.

PostgreSQL refuses to run as root: under root (CI containers) the server's files belong to,
and its processes run as, the ``postgres`` account Debian's package creates.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from taskgate.cli.redis_server import free_port

BIN_DIRS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)


def find_pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl (PATH first, then Debian's versioned dirs)."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    for candidate in BIN_DIRS:
        if (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


@dataclass
class PrivatePostgres:
    """One PostgreSQL server of the tests' own (``start``, ``restart``, ``stop``)."""

    bin_dir: Path
    port: int = 0
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="taskgate-pg-")))
    user: str = "taskgate"
    database: str = "taskgate"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *argv: str, timeout: float = 60) -> str:
        account = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            env={**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"},
            cwd=self.root,
        )
        if done.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{argv[0]} failed: {done.stdout}{done.stderr}\n{log}")
        return done.stdout

    def start(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.root.chmod(0o755)
        self.port = self.port or free_port()
        self._run(
            str(self.bin_dir / "initdb"),
            "-D", str(self.data),
            "-U", self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )  # fmt: skip
        self._ctl("start", "-o", self._options())
        self._run(
            str(self.bin_dir / "createdb"),
            "-h", str(self.root), "-p", str(self.port), "-U", self.user,
            self.database,
        )  # fmt: skip
        return self

    def _options(self) -> str:
        # Durability off: a test database, and the suite's disk is shared.
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200"
        )

    def _ctl(self, action: str, *extra: str) -> None:
        self._run(
            str(self.bin_dir / "pg_ctl"),
            action,
            "-D", str(self.data),
            "-l", str(self.root / "server.log"),
            "-w", "-t", "30",
            *extra,
        )  # fmt: skip

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every open connection is cut."""
        self._ctl("restart", "-m", "fast")

    def halt(self) -> None:
        """Stop the server (``-m fast``), files kept: :meth:`resume` starts it again."""
        self._ctl("stop", "-m", "fast")

    def resume(self) -> None:
        self._ctl("start", "-o", self._options())

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def execute(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        """Run one statement on its own connection; its rows (if it returns any)."""
        import psycopg

        with psycopg.connect(
            self.url.replace("postgres://", "postgresql://"), autocommit=True
        ) as conn:
            cursor = conn.execute(sql, params or None)
            return cursor.fetchall() if cursor.description else []
