"""Settings that choose the database: SQLite in the data dir, or DATABASE_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_SHOW = (
    "import json; from taskgate.serve import settings as s; "
    "d = s.DATABASES['default']; print(json.dumps({k: d.get(k) for k in "
    "('ENGINE', 'NAME', 'HOST', 'PORT', 'USER', 'CONN_MAX_AGE')}))"
)


def _databases(**env: str) -> dict[str, object]:
    """The database settings a fresh process makes from the environment with ``env``."""
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    out = subprocess.run(
        [sys.executable, "-c", _SHOW],
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(out.stdout))


def test_sqlite_in_the_data_dir_by_default(tmp_path: Path) -> None:
    db = _databases(TASKGATE_DATA_DIR=str(tmp_path))
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == f"{tmp_path}/db.sqlite3"


def test_database_url_selects_postgresql() -> None:
    db = _databases(DATABASE_URL="postgres://tg:secret@db.internal:5433/taskgate")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["HOST"], db["PORT"], db["USER"]) == (
        "taskgate",
        "db.internal",
        5433,
        "tg",
    )
    assert db["CONN_MAX_AGE"] == 60
