"""taskgate: push Celery job progress and results to browsers in real time.

The public API (docs/integration.md): :func:`job` declares a job browsers may submit,
:func:`report_progress` reports progress from inside it (or from any Celery task started
with :func:`start`), :func:`start` / :func:`astart` start work from server code for an owner
whose browser then watches it, :func:`composite` with :class:`Part`, :class:`Plan` and
:class:`PartResult` declares a job made of parts, :func:`open_artifact` /
:func:`write_artifact` write the file a job offers for download, and
:class:`ProtocolError` is what :func:`start` raises when it refuses.

Importing ``taskgate`` imports nothing else: each name is loaded on first use, so the package
can be listed in ``INSTALLED_APPS`` and imported before Django is set up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskgate.jobs.start import astart, start
    from taskgate.protocol.errors import ProtocolError
    from taskgate.worker.artifacts import Artifact, ArtifactWriter, open_artifact, write_artifact
    from taskgate.worker.composite import Part, PartResult, Plan, composite
    from taskgate.worker.progress import report_progress
    from taskgate.worker.registry import job

_API = {
    "job": "taskgate.worker.registry",
    "report_progress": "taskgate.worker.progress",
    "composite": "taskgate.worker.composite",
    "Part": "taskgate.worker.composite",
    "Plan": "taskgate.worker.composite",
    "PartResult": "taskgate.worker.composite",
    "start": "taskgate.jobs.start",
    "astart": "taskgate.jobs.start",
    "ProtocolError": "taskgate.protocol.errors",
    "Artifact": "taskgate.worker.artifacts",
    "ArtifactWriter": "taskgate.worker.artifacts",
    "open_artifact": "taskgate.worker.artifacts",
    "write_artifact": "taskgate.worker.artifacts",
}

__all__ = [
    "Artifact",
    "ArtifactWriter",
    "Part",
    "PartResult",
    "Plan",
    "ProtocolError",
    "astart",
    "composite",
    "job",
    "open_artifact",
    "report_progress",
    "start",
    "write_artifact",
]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'taskgate' has no attribute {name!r}")
    return getattr(import_module(module), name)
