"""The registry of named jobs: each has a parameter schema, a description and a Celery task.

A job is a plain function of its validated parameters, declared with :func:`job`::

    class EchoParams(BaseModel):
        task_id: int

    @job("demo.echo", params=EchoParams, description="Echo the id back.")
    def echo(params: EchoParams) -> int:
        report_progress(1, 1, "done")
        return params.task_id

The registry holds what job modules declare; which modules are imported is the app's
configuration (:mod:`taskgate.apps`), never this module's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from celery import Task, shared_task
from pydantic import BaseModel

from taskgate.contract.wire import JsonObject
from taskgate.worker.task import JobTask

P = TypeVar("P", bound=BaseModel)


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

    def enqueue(self, job_id: str, params: JsonObject) -> None:
        """Put the job on the broker under ``job_id`` (blocking kombu I/O).

        A composite job runs its plan first: a plan that cannot run raises
        :class:`~taskgate.worker.composite.CompositeError`.
        """
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
    # A shared task: it exists in whichever Celery app runs (taskgate.config.celery_app).
    register_task = shared_task(name=name, base=base, **task_options)
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
    """Register ``func`` as the job ``name``; ``task_options`` go to Celery's ``task``."""

    def decorator(func: Callable[[P], Any]) -> JobSpec[P]:
        def run(**kwargs: Any) -> Any:
            return func(params.model_validate(kwargs))

        run.__name__ = func.__name__
        run.__doc__ = func.__doc__
        return register(name, params, description, run, **task_options)

    return decorator


def get_job(name: str) -> JobSpec[Any] | None:
    return _registry.get(name)


def all_jobs() -> list[JobSpec[Any]]:
    return sorted(_registry.values(), key=lambda spec: spec.name)
