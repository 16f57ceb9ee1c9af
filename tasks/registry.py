"""The registry of named jobs: each has a parameter schema, a description and a Celery task.

A job is a plain function of its validated parameters, declared with :func:`job`::

    class EchoParams(BaseModel):
        task_id: int

    @job("demo.echo", params=EchoParams, description="Echo the id back.")
    def echo(params: EchoParams) -> int:
        report_progress(1, 1, "done")
        return params.task_id
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from celery import Task
from celery.exceptions import Ignore
from django.conf import settings
from pydantic import BaseModel, ValidationError

from tasks.celery_app import app
from tasks.emit import store_and_emit
from tasks.lease import leases
from tasks.parts import PART_KWARG, PartLink
from tasks.progress import ProgressReporter, bind_reporter, unbind_reporter
from tasks.state import JsonObject

ProgressSend = Callable[[JsonObject], object]

logger = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)


class JobTask(Task):  # type: ignore[type-arg]
    """Base of every registered job's Celery task: announces ``running`` and owns progress."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        job_id = str(request.id)
        # A part of a composite job carries its link to the parent (never a parameter).
        link = PartLink.from_kwargs(kwargs.pop(PART_KWARG, None))
        if self.backend.get_state(job_id) == "REVOKED":
            # Cancelled while queued (the gateway recorded it); a worker that was not
            # running at the time never got the revoke broadcast.
            logger.info("job=%s state=cancelled skipped: cancelled before it started", job_id)
            raise Ignore()
        leases.hold(job_id)
        send = self.begin(request, link)
        reporter = ProgressReporter(
            self, request, settings.TASKGATE_PROGRESS_MIN_INTERVAL, send=send
        )
        token = bind_reporter(reporter)
        try:
            return super().__call__(*args, **kwargs)
        finally:
            unbind_reporter(token)
            # Pending progress goes out before Celery stores the end state.
            reporter.close()

    def begin(self, request: Any, link: PartLink | None) -> ProgressSend | None:
        """Announce ``running``; returns how progress is sent (``None``: the usual way)."""
        job_id = str(request.id)
        if link is not None and self._report_part(link) in ("ended", "missing"):
            # Its composite job already ended (a sibling failed, or it was cancelled).
            logger.info("job=%s state=cancelled skipped: job %s ended", job_id, link.parent)
            self.backend.mark_as_revoked(job_id, "its composite job ended", request=request)
            raise Ignore()
        try:
            store_and_emit(self, request, "STARTED")
        except Exception:
            logger.warning("job=%s could not record the running state", job_id, exc_info=True)
        if link is None:
            return None
        part = link

        def send(progress: JsonObject) -> None:
            store_and_emit(self, request, "PROGRESS", progress=progress)
            part.report("running", progress=progress)

        return send

    @staticmethod
    def _report_part(link: PartLink) -> str:
        """Tell the parent this part runs; a Redis hiccup must not fail the part itself."""
        try:
            return link.report("running").outcome
        except Exception:
            logger.warning("job=%s could not report part %s", link.parent, link.name, exc_info=True)
            return "unknown"


@dataclass(frozen=True)
class JobSpec(Generic[P]):
    """A registered job."""

    name: str
    description: str
    params: type[P]
    task: Task  # type: ignore[type-arg]
    # How a composite job is put on the queue (its parts); None: ``task`` is the job.
    start: Callable[[str, JsonObject], None] | None = None

    def validate(self, params: object) -> JsonObject:
        """Validate raw parameters; returns them normalised (defaults filled in).

        Raises :class:`pydantic.ValidationError`.
        """
        model = self.params.model_validate(params if params is not None else {})
        return model.model_dump(mode="json")

    def describe(self) -> JsonObject:
        return {
            "name": self.name,
            "description": self.description,
            "params": self.params.model_json_schema(),
        }

    def dispatch(self, job_id: str, params: JsonObject) -> None:
        """Put the job on the broker under ``job_id`` (blocking kombu I/O)."""
        if self.start is not None:
            self.start(job_id, params)
        else:
            self.task.apply_async(kwargs=params, task_id=job_id, retry=True)


_registry: dict[str, JobSpec[Any]] = {}


def register(
    name: str,
    params: type[P],
    description: str,
    run: Callable[..., Any],
    *,
    base: type[JobTask] = JobTask,
    start: Callable[[str, JsonObject], None] | None = None,
    **task_options: Any,
) -> JobSpec[P]:
    """Register ``run(**params)`` as the Celery task of the job ``name``."""
    if name in _registry:
        raise ValueError(f"a job named {name!r} is already registered")
    register_task = app.task(name=name, base=base, **task_options)
    task: Task = register_task(run)  # type: ignore[type-arg,no-untyped-call]
    spec = JobSpec(name=name, description=description, params=params, task=task, start=start)
    _registry[name] = spec
    return spec


def job(
    name: str,
    *,
    params: type[P],
    description: str,
    **task_options: Any,
) -> Callable[[Callable[[P], Any]], JobSpec[P]]:
    """Register ``func`` as the job ``name``; ``task_options`` go to ``app.task``."""

    def decorator(func: Callable[[P], Any]) -> JobSpec[P]:
        def run(**kwargs: Any) -> Any:
            return func(params.model_validate(kwargs))

        run.__name__ = func.__name__
        run.__doc__ = func.__doc__
        return register(name, params, description, run, **task_options)

    return decorator


def get_job(name: str) -> JobSpec[Any] | None:
    _load_jobs()
    return _registry.get(name)


def all_jobs() -> list[JobSpec[Any]]:
    _load_jobs()
    return sorted(_registry.values(), key=lambda spec: spec.name)


def _load_jobs() -> None:
    import tasks.jobs  # noqa: F401  (importing registers the jobs)


__all__ = ["JobSpec", "JobTask", "ValidationError", "all_jobs", "get_job", "job", "register"]
