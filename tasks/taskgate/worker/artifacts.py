"""Files that jobs produce for download: where they live, how they are written, when they go.

Layout: ``TASKGATE_ARTIFACTS_DIR/<job_id>/<name>``, one directory per job, shared by the
workers (which write) and the gateway (which serves). A file is written under a temporary
name and renamed into place, so a half-written file is never served. A job whose result is
an object with an ``artifact`` entry (see :class:`Artifact`) has a file to download at
``GET /api/jobs/<job_id>/artifact``.

Artifacts older than ``TASKGATE_ARTIFACT_MAX_AGE`` are removed by :func:`sweep`, which runs
when a worker starts, before every artifact is written, and from ``taskgate manage
cleanup_artifacts`` (for a cron job on a deployment with no report running for days).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from taskgate.config import get_config

logger = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ArtifactError(ValueError):
    """An artifact name or job id that cannot name a file in the artifacts directory."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """What a job's result says about its file (the ``artifact`` entry of the result)."""

    name: str
    content_type: str
    bytes: int
    sha256: str

    def describe(self) -> dict[str, str | int]:
        return {
            "name": self.name,
            "content_type": self.content_type,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


def artifacts_root() -> Path:
    return Path(get_config().artifacts_dir)


def check_name(name: str) -> str:
    """A plain file name: no separators, no leading dot, at most 128 characters."""
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise ArtifactError(f"not a valid artifact name: {name[:40]!r}")
    return name


def artifact_path(job_id: str, name: str) -> Path:
    """Where ``name`` of job ``job_id`` lives; raises :class:`ArtifactError` for odd names."""
    return artifacts_root() / check_name(job_id) / check_name(name)


class ArtifactWriter:
    """A text sink that counts and hashes the UTF-8 bytes it writes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self._raw.write(data)
        self.sha256.update(data)
        self.bytes += len(data)
        return len(text)


@contextlib.contextmanager
def _placed(job_id: str, name: str) -> Iterator[Path]:
    """Yields a temporary path; renamed to the artifact's place if the block succeeds."""
    sweep()
    final = artifact_path(job_id, name)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.partial")
    try:
        yield partial
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def open_artifact(
    job_id: str, name: str, content_type: str
) -> Iterator[tuple[ArtifactWriter, list[Artifact]]]:
    """Write a text artifact: yields a writer and a list that holds the :class:`Artifact`
    once the block ends without error (the file is then renamed into place)."""
    done: list[Artifact] = []
    with _placed(job_id, name) as partial, partial.open("wb") as raw:
        writer = ArtifactWriter(raw)
        yield writer, done
        raw.flush()
        os.fsync(raw.fileno())
    done.append(Artifact(name, content_type, writer.bytes, writer.sha256.hexdigest()))
    logger.info("job %s: artifact %s written (%d bytes)", job_id, name, writer.bytes)


def write_artifact(
    job_id: str, name: str, content_type: str, write: Callable[[IO[bytes]], None]
) -> Artifact:
    """Write a binary artifact (e.g. a zip, which needs a seekable file) with ``write``."""
    digest = hashlib.sha256()
    size = 0
    with _placed(job_id, name) as partial, partial.open("w+b") as raw:
        write(raw)
        raw.flush()
        os.fsync(raw.fileno())
        raw.seek(0)
        while chunk := raw.read(1 << 16):
            digest.update(chunk)
            size += len(chunk)
    logger.info("job %s: artifact %s written (%d bytes)", job_id, name, size)
    return Artifact(name, content_type, size, digest.hexdigest())


def sweep(max_age: float | None = None, now: float | None = None) -> list[str]:
    """Remove the artifact directories of jobs whose newest file is older than ``max_age``
    seconds (default ``TASKGATE_ARTIFACT_MAX_AGE``). Returns the job ids removed."""
    root = artifacts_root()
    if not root.is_dir():
        return []
    limit = float(get_config().artifact_max_age if max_age is None else max_age)
    cutoff = (time.time() if now is None else now) - limit
    removed: list[str] = []
    for entry in root.iterdir():
        try:
            if not entry.is_dir():
                continue
            newest = max(
                [entry.stat().st_mtime, *(child.stat().st_mtime for child in entry.iterdir())]
            )
            if newest < cutoff:
                shutil.rmtree(entry)
                removed.append(entry.name)
        except OSError as exc:  # another sweeper got there first, or a permission problem
            logger.warning("artifact sweep: could not check or remove %s: %r", entry, exc)
    if removed:
        logger.info("artifact sweep removed %d expired job directories", len(removed))
    return removed
