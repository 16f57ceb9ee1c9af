"""End states are final: Celery's own stores never write over the end of a taskgate job.

A worker that was paused past its lease (SIGSTOP, a GC pause, a partition from Redis) comes
back after the gateway settled its job as ``lost``; Celery would then store the job's
``SUCCESS`` over that ``FAILURE``, and one job would have two ends. So the app's Redis
backend stores through one Lua script that refuses to replace an end state
(``SUCCESS``, ``FAILURE``, ``REVOKED``) of a job taskgate records (its ``taskgate:job:``
record exists). For other tasks it keeps Celery's own rule (only ``SUCCESS`` is kept).
A refused store is remembered, so the signal handlers push nothing for it and write no row
(:func:`take_refused`), and it is logged once.

:func:`guard` changes the class of the app's backend instance to a subclass with that one
method; it is called once Django is ready, in every process (taskgate.apps).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery, states
from celery.backends.redis import RedisBackend
from kombu.utils.encoding import bytes_to_str

from taskgate.contract.keys import record_key

logger = logging.getLogger(__name__)

# KEYS: the meta, the job's record. ARGV: the new meta, seconds to keep it ('' for ever).
_STORE_UNLESS_FINAL = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, meta = pcall(cjson.decode, current)
  if ok and type(meta) == 'table' then
    if meta.status == 'SUCCESS' then return meta.status end
    if (meta.status == 'FAILURE' or meta.status == 'REVOKED')
       and redis.call('EXISTS', KEYS[2]) == 1 then
      return meta.status
    end
  end
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return ''
"""

_refused: set[str] = set()
_lock = threading.Lock()


class FinalEndsBackend(RedisBackend):
    """Celery's Redis backend, whose stores never replace a taskgate job's end state."""

    def _store_result(
        self,
        task_id: Any,
        result: Any,
        state: str,
        traceback: Any = None,
        request: Any = None,
        **kwargs: Any,
    ) -> Any:
        job_id = bytes_to_str(task_id)
        celery: Any = self  # what Celery's own _store_result uses (not in its type stubs)
        meta = celery._get_result_meta(
            result=result, state=state, traceback=traceback, request=request
        )
        meta["task_id"] = job_id
        expires = celery.failure_expires if state == states.FAILURE else celery.expires
        keys = [self.get_key_for_task(job_id), record_key(job_id)]
        args = [self.encode(meta), "" if not expires else str(int(expires))]
        kept = self.ensure(self._store_unless_final, (keys, args))
        if kept:
            with _lock:
                _refused.add(job_id)
            logger.warning(
                "job=%s state=%s discarded: the job had already ended (%s)",
                job_id,
                state.lower(),
                bytes_to_str(kept).lower(),
            )
        return result

    def _store_unless_final(self, keys: list[str], args: list[str]) -> Any:
        return self.client.eval(_STORE_UNLESS_FINAL, len(keys), *keys, *args)


_classes: dict[type, type] = {}


def guard(app: Celery) -> None:
    """Make the app's backend keep end states (a Redis backend; any other is left alone)."""
    backend: Any = app.backend
    cls = type(backend)
    if not isinstance(backend, RedisBackend) or issubclass(cls, FinalEndsBackend):
        return
    if cls not in _classes:  # RedisBackend or a subclass of it (Sentinel): keep what it adds
        _classes[cls] = type(f"FinalEnds{cls.__name__}", (FinalEndsBackend, cls), {})
    backend.__class__ = _classes[cls]


def take_refused(job_id: str) -> bool:
    """Whether Celery's store of this job's latest state was refused (and forget it)."""
    with _lock:
        if job_id in _refused:
            _refused.discard(job_id)
            return True
    return False
