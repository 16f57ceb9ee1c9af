"""``taskgate.start``: a team's own server code starts a job that a browser then watches.

The job is a registered job by name (its params validated like a browser's submit) or a
Celery signature of the project's app (``export_orders.s(1000)``). Either way it is recorded
as owned by ``owner`` (a user, or a request: its user when signed in, else its session), so
that owner's browser watches it with the ordinary protocol and anyone else gets
``forbidden``. A signature is sent with the header that makes the worker track it as a job
(:mod:`taskgate.worker.tracked`): ``running``, progress, the end, cancel and ``lost`` all
work for a plain ``@shared_task``. Server code is trusted: no submit rate limit applies.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from celery.canvas import Signature
from django.http import HttpRequest

from taskgate.auth.principal import Principal, principal_for_user
from taskgate.backends import rows
from taskgate.backends.broker import UNREACHABLE
from taskgate.backends.state_store import JobRecord, celery_meta, meta_key, queue_record
from taskgate.config import get_config
from taskgate.config.celery_app import result_ttl
from taskgate.contract.keys import record_key
from taskgate.contract.wire import JsonObject, now_ts
from taskgate.events.redis_client import result_redis
from taskgate.jobs.submit import validate
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError
from taskgate.worker.composite import CompositeError
from taskgate.worker.tracked import TRACK_HEADER

logger = logging.getLogger(__name__)


def start(task: str | Signature, *, owner: Any, params: JsonObject | None = None) -> str:
    """Start ``task`` for ``owner``; returns the job id to hand to the browser.

    Raises :class:`~taskgate.protocol.errors.ProtocolError`: ``unknown_job`` or
    ``invalid_params`` for a registered job, ``unavailable`` when the database, Redis or the
    broker cannot be reached (nothing is left behind then).
    """
    principal = owner_principal(owner)
    job_id = str(uuid.uuid4())
    if isinstance(task, Signature):
        if params is not None:
            raise TypeError("params belong to a registered job; a signature has its arguments")
        name = str(task.task)
        recorded: JsonObject = {"args": list(task.args), "kwargs": dict(task.kwargs)}
    else:
        spec, recorded = validate(task, params or {})
        name = spec.name
    _record(job_id, name, principal.owner, recorded)
    try:
        if isinstance(task, Signature):
            task.clone().apply_async(task_id=job_id, headers={TRACK_HEADER: "1"}, retry=True)
        else:
            spec.enqueue(job_id, recorded)
    except UNREACHABLE as exc:
        logger.warning("dispatch of job %s (%s) failed: %r", job_id, name, exc)
        _forget(job_id)
        raise _unavailable("the broker is unreachable") from exc
    except CompositeError as exc:
        plan_error: CompositeError | None = exc
    else:
        plan_error = None
    logger.info("job=%s state=accepted seq=0 name=%s owner=%s", job_id, name, principal.log_id)
    if plan_error is not None:
        _fail_at_once(job_id, plan_error)
    return job_id


astart = sync_to_async(start)
astart.__doc__ = "``start`` from async code (the database and broker calls run in a thread)."


def owner_principal(owner: Any) -> Principal:
    """The principal a job started for ``owner`` (a user, or an ``HttpRequest``) belongs to."""
    if isinstance(owner, HttpRequest):
        principal = principal_for_user(getattr(owner, "user", None))
        if principal is not None:
            return principal
        if not get_config().allow_anonymous:
            raise ValueError(
                "the request's user is not signed in and anonymous use is off "
                "(TASKGATE_ALLOW_ANONYMOUS): its browser could not watch the job"
            )
        session = owner.session
        session["taskgate"] = True  # a session with data: the response sets its cookie
        if session.session_key is None:
            session.save()
        return Principal(f"session:{session.session_key}")
    principal = principal_for_user(owner)
    if principal is None:
        raise TypeError(f"owner must be a signed-in user or an HttpRequest, not {owner!r}")
    return principal


def _record(job_id: str, name: str, owner: str, params: JsonObject) -> None:
    try:
        rows.create_now(job_id, name, owner, params)
    except rows.DatabaseUnavailable:
        raise _unavailable("the database is unreachable") from None
    try:
        pipe = result_redis().pipeline(transaction=True)
        queue_record(pipe, JobRecord(job_id, name, owner, now_ts()), params)
        pipe.execute()
    except UNREACHABLE:
        rows.forget_now(job_id)
        raise _unavailable("Redis is unreachable") from None


def _forget(job_id: str) -> None:
    try:
        result_redis().delete(record_key(job_id))
    except UNREACHABLE:
        logger.warning("could not delete the record of undispatched job %s", job_id)
    rows.forget_now(job_id)


def _fail_at_once(job_id: str, error: CompositeError) -> None:
    """A composite whose plan cannot run: that job fails now (see jobs/submit.py)."""
    logger.warning("job=%s state=failure reason=plan: %s", job_id, error)
    payload = celery_meta(job_id, "FAILURE", type(error).__name__, str(error))
    result_redis().set(meta_key(job_id), payload, ex=result_ttl(), nx=True)
    rows.finish_now(job_id, "failure")


def _unavailable(what: str) -> ProtocolError:
    return ProtocolError(ErrorCode.UNAVAILABLE, f"{what}: the job was not started; try again")
