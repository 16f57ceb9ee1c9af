"""Which Celery app taskgate uses (the one configured, else the project's current app), and
what of its configuration taskgate follows: the result lifetime, acks-late, the backend.

In a team's project (``"taskgate"`` in ``INSTALLED_APPS``) that is the project's own app,
the usual ``proj/celery.py`` made current by ``proj/__init__.py``; ``TASKGATE_CELERY_APP``
(``module:attribute``) names it explicitly. taskgate's own stack defaults to
:mod:`taskgate.serve.celery_app`. Registered jobs are shared tasks, so they exist in
whichever app this is.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from celery import Celery
from celery import current_app as _current_app
from kombu.utils.imports import symbol_by_name

from taskgate.config import get_config
from taskgate.config.redis_target import RedisTarget


@functools.cache
def celery_app() -> Celery:
    """The Celery app (made current, so shared tasks and signatures use it too)."""
    name = get_config().celery_app
    app: object = symbol_by_name(name) if name else _current_object()
    if not isinstance(app, Celery):
        raise TypeError(f"TASKGATE_CELERY_APP={name!r} is not a Celery app")
    app.set_current()
    app.set_default()
    return app


def _current_object() -> object:
    # current_app is a proxy; the app itself is what gets made current and compared.
    current: Any = _current_app
    return current._get_current_object()


def result_ttl() -> int:
    """Seconds the result backend keeps a state: taskgate's keys of a job live as long."""
    expires: Any = celery_app().conf.result_expires
    if isinstance(expires, timedelta):
        return max(1, int(expires.total_seconds()))
    if isinstance(expires, int | float) and expires > 0:
        return int(expires)
    return get_config().result_expires  # Celery keeps results forever: we do not


def acks_late() -> bool:
    """Whether the broker re-delivers the jobs of a dead worker (the app's task_acks_late)."""
    return bool(celery_app().conf.task_acks_late)


def result_target() -> RedisTarget:
    """The Redis of the app's result backend (where taskgate's own keys live too): a
    ``redis://`` URL, or a master found through Sentinel (``sentinel://`` with the
    ``master_name`` in ``result_backend_transport_options``)."""
    conf = celery_app().conf
    url = conf.result_backend
    if not isinstance(url, str) or not url.startswith(
        ("redis://", "rediss://", "unix://", "sentinel://")
    ):
        raise ValueError(
            f"taskgate needs a Redis result backend (CELERY_RESULT_BACKEND), not {url!r}"
        )
    return RedisTarget.from_celery(url, conf.result_backend_transport_options)
