"""Composite jobs: a Celery group of parts, then a merge step, watched as one job.

A job author declares the parts a job fans out to, and the merge that joins their results::

    def plan(params: BundleParams) -> Plan:
        return Plan([Part(region, "reports.generate", {...}, weight=...) for region in ...])

    @composite("reports.bundle", params=BundleParams, description="...", plan=plan)
    def bundle(params: BundleParams, parts: list[PartResult]) -> dict[str, Any]:
        ...  # zip the parts' files; report_progress() works here too

Submitting it records the aggregate (:mod:`taskgate.worker.aggregate`) and sends the parts as
one Celery ``group``, each part an ordinary registered job with its own id that reports into the
parent. When the last part succeeds, it sends the merge step, a task with the *parent's*
id: its end is stored and pushed like any job's end, so the parent's terminal state lives
where every single job's does. Celery's own chord is not used on purpose: on a failed part
it stores a ``ChordError`` over the callback's (the parent's) state when the last part
returns, which would change a terminal state taskgate already announced; the join is the
same Redis counter in spirit, kept in our aggregate script instead.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from celery import current_task, group
from pydantic import BaseModel

from taskgate.config.celery_app import celery_app
from taskgate.contract.wire import JsonObject
from taskgate.worker import aggregate
from taskgate.worker.aggregate import PART_KWARG, PartLink
from taskgate.worker.registry import JobSpec, get_job, register
from taskgate.worker.task import JobTask, ProgressSend

logger = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)


class CompositeError(ValueError):
    """A composite job's plan names something that cannot run."""


@dataclass(frozen=True, slots=True)
class Part:
    """One part: a registered job, its parameters, and its share of the overall bar."""

    name: str
    job: str
    params: JsonObject
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Plan:
    """The parts of one run of a composite job, and the merge step's share of the bar."""

    parts: list[Part]
    merge_weight: float = field(default=0.0)


@dataclass(frozen=True, slots=True)
class PartResult:
    """What the merge step gets for each part (all of them succeeded)."""

    name: str
    job: str
    job_id: str
    result: Any


class MergeTask(JobTask):
    """The merge step: runs under the parent's id and reports into the parent's aggregate."""

    def begin(self, request: Any, link: PartLink | None) -> ProgressSend | None:
        job_id = str(request.id)
        try:
            aggregate.update(job_id, "merge", "running")
        except Exception:  # advisory, like progress: the merge itself must still run
            logger.warning("job=%s could not record the merge step running", job_id, exc_info=True)

        def send(progress: JsonObject, ts: str) -> None:
            aggregate.update(job_id, "merge", "running", progress=progress)

        return send


def _start(name: str, params_model: type[P], plan: Callable[[P], Plan]) -> Callable[..., None]:
    def start(job_id: str, params: JsonObject) -> None:
        try:
            planned = plan(params_model.model_validate(params))
        except Exception as exc:  # the plan is the job's own code: its bug is the job's error
            raise CompositeError(f"{name}: its plan failed: {exc!r}") from exc
        if not planned.parts:
            raise CompositeError(f"{name}: a composite job needs at least one part")
        signatures = []
        described: list[JsonObject] = []
        for index, part in enumerate(planned.parts, start=1):
            spec = get_job(part.job)
            if spec is None or spec.start is not None:
                raise CompositeError(f"{name}: part {part.name!r} names no plain job {part.job!r}")
            part_id = str(uuid.uuid4())
            link = PartLink(job_id, index, part.name)
            kwargs = {**spec.validate(part.params), PART_KWARG: link.kwarg()}
            signatures.append(spec.task.signature(kwargs=kwargs).set(task_id=part_id))
            described.append(
                {"name": part.name, "job": part.job, "job_id": part_id, "weight": part.weight}
            )
        # The aggregate exists before any part can start and report into it.
        aggregate.save_doc(
            aggregate.initial_doc(job_id, name, params, described, planned.merge_weight)
        )
        group(signatures).apply_async(retry=True)
        logger.info("job=%s parts=%d dispatched as a group", job_id, len(signatures))

    return start


def composite(
    name: str,
    *,
    params: type[P],
    description: str,
    plan: Callable[[P], Plan],
    **task_options: Any,
) -> Callable[[Callable[[P, list[PartResult]], Any]], JobSpec[P]]:
    """Register a composite job: ``plan`` gives its parts, the decorated function merges."""

    def decorator(merge: Callable[[P, list[PartResult]], Any]) -> JobSpec[P]:
        def run(**kwargs: Any) -> Any:
            results = part_results(str(current_task.request.id))
            return merge(params.model_validate(kwargs), results)

        run.__name__ = merge.__name__
        run.__doc__ = merge.__doc__
        start = _start(name, params, plan)
        return register(name, params, description, run, base=MergeTask, start=start, **task_options)

    return decorator


def part_results(job_id: str) -> list[PartResult]:
    """The results of a composite job's parts, in plan order, from the result backend."""
    doc = aggregate.load_doc(job_id)
    if doc is None:
        raise CompositeError(f"job {job_id}: its parts are not recorded (expired?)")
    backend: Any = celery_app().backend
    return [
        PartResult(
            name=str(part["name"]),
            job=str(part["job"]),
            job_id=str(part["job_id"]),
            result=backend.get_task_meta(str(part["job_id"])).get("result"),
        )
        for part in doc["parts"]
    ]


def send_merge(update: aggregate.Update) -> None:
    """All parts succeeded: send the merge step under the parent's id."""
    spec = get_job(update.job)
    if spec is None:
        logger.error("job=%s merge step of unknown job %s", update.parent, update.job)
        return
    spec.task.apply_async(kwargs=update.params or {}, task_id=update.parent, retry=True)
    logger.info("job=%s merge step dispatched", update.parent)


def revoke_parts(update: aggregate.Update) -> None:
    """The job ended early: stop the parts that have not ended."""
    if update.revoke:
        celery_app().control.revoke(list(update.revoke), terminate=True)
        logger.info("job=%s revoked %d unfinished parts", update.parent, len(update.revoke))
