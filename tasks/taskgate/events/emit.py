"""Record a job's state change in the result backend, then signal its watchers.

Order matters: the state is stored first and pushed second, so a watcher that gets the push
and then reads a snapshot never sees an older state than the push announced. Running and
progress states are stored in one round trip that also allocates their seq, and never over
an end state (:data:`_STORE_UNLESS_ENDED`).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

from celery import Task
from celery.app.task import Context

from taskgate.config import telemetry
from taskgate.config.celery_app import result_ttl
from taskgate.contract.keys import RUNNING_KEY, progress_key, seq_key
from taskgate.contract.wire import JsonObject, dumps, now_ts
from taskgate.events import stage_times
from taskgate.events.layer_pipeline import SEQ_MARK
from taskgate.events.publisher import publisher
from taskgate.events.redis_client import ScriptRunner, result_redis

logger = logging.getLogger(__name__)


class SeqCounter:
    """The per-job sequence counter in Redis."""

    def next(self, job_id: str) -> int:
        """Allocate the next seq of a non-terminal event Celery stores itself (a retry)."""
        pipe = result_redis().pipeline(transaction=True)
        pipe.incr(seq_key(job_id))
        pipe.expire(seq_key(job_id), result_ttl())
        return int(pipe.execute()[0])

    def terminal(self, job_id: str) -> int:
        """The seq of the job's terminal event: one past the last non-terminal one (and the
        job leaves the running set)."""
        pipe = result_redis().pipeline(transaction=False)
        pipe.get(seq_key(job_id))
        pipe.zrem(RUNNING_KEY, job_id)
        raw = pipe.execute()[0]
        return (int(raw) if raw is not None else 0) + 1


counter = SeqCounter()


# A running/progress state, stored in one round trip unless the job has already ended: a
# worker that was paused past its lease (the gateway settled the job as lost), or progress
# still pending when a plain task returned, must never change an end state.
# KEYS: meta, seq, progress, the running set. ARGV: the meta before and after its seq, ttl,
# progress or '', the job id when it starts running (else ''); then, when the script pushes
# the event itself (a DirectRoute: one round trip, stored before published), the layer's
# channel and its message before and after the packed seq (0xcf and 8 bytes, big-endian).
_STORE_UNLESS_ENDED = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, meta = pcall(cjson.decode, current)
  if ok and type(meta) == 'table' and
     (meta.status == 'SUCCESS' or meta.status == 'FAILURE' or meta.status == 'REVOKED') then
    return 0
  end
end
local seq = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1] .. seq .. ARGV[2], 'EX', ARGV[3])
if ARGV[4] ~= '' then redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[3]) end
if ARGV[5] ~= '' then redis.call('ZADD', KEYS[4], redis.call('TIME')[1], ARGV[5]) end
if ARGV[6] then
  local packed, rest = {}, seq
  for i = 8, 1, -1 do packed[i] = rest % 256; rest = math.floor(rest / 256) end
  redis.call('PUBLISH', ARGV[6], ARGV[7] .. string.char(207, unpack(packed)) .. ARGV[8])
end
return seq
"""
# Stands for the seq in the encoded meta until the script knows it (a number no seq reaches).
_SEQ_MARK = -735_109_346_827_501
# Stands for the result in a job's encoded meta (:func:`_template`).
_RESULT_MARK = "taskgate-result-7c0e5b1d"
_TEMPLATES_KEPT = 256


@dataclass(frozen=True)
class _Template:
    """What every report of one run of a job in one state shares: Celery's encoded meta
    around its result, the store script's keys and the states' time to live."""

    request: Context
    children: int
    meta_before: str
    meta_after: str
    keys: list[str | bytes]
    ttl: int


_templates: dict[tuple[str, str], _Template] = {}


def _template(backend: Any, request: Context, state: str, job_id: str) -> _Template:
    """The job's template for ``state``: made once per job and state, and again when the
    request (a retry) or its children change. Celery builds the meta by reading its settings
    each time, and the keys and the TTL read settings too: after 100 ms idle, these were
    0.15 ms of the 0.3 ms a report took before it left for Redis."""
    children = len(getattr(request, "children", None) or ())
    cached = _templates.get((job_id, state))
    if cached is not None and cached.request is request and cached.children == children:
        return cached
    meta = backend._get_result_meta(
        result=_RESULT_MARK, state=state, traceback=None, request=request
    )
    meta["task_id"] = job_id
    before, mark, after = str(backend.encode(meta)).partition(dumps(_RESULT_MARK))
    if not mark:
        raise ValueError("the encoded meta lost its result")
    keys = [backend.get_key_for_task(job_id), seq_key(job_id), progress_key(job_id), RUNNING_KEY]
    if len(_templates) >= _TEMPLATES_KEPT:
        _templates.clear()
    made = _Template(request, children, before, after, keys, result_ttl())
    _templates[(job_id, state)] = made
    return made


@telemetry.traced("taskgate.store_and_push", lambda task, request, state, **_: state.lower())
def store_and_emit(
    task: Task[Any, Any],
    request: Context,
    state: str,
    *,
    progress: JsonObject | None = None,
    ts: str | None = None,
) -> None:
    """Store a running/progress state with its seq and ``ts`` (when the job reported it;
    now if not given), then push it; nothing is stored or pushed when the job has already
    ended (logged).

    Where the store script pushes the event itself this returns once the run is sent:
    Redis runs the scripts of one process in the order they were sent, and
    :func:`wait_stored` waits for their answers (a job's end does).

    ``request`` is the job's Celery request, captured on the job's own thread (Celery keeps
    it thread-local, and a coalescing timer may call this from another thread).
    """
    job_id = str(request.id)
    ts = ts or now_ts()
    worker = str(request.hostname) if getattr(request, "hostname", None) else None
    template = _template(task.backend, request, state, job_id)
    result = dumps({"seq": _SEQ_MARK, "ts": ts, "worker": worker, "progress": progress})
    result_before, _, result_after = result.partition(str(_SEQ_MARK))
    before, after = template.meta_before + result_before, result_after + template.meta_after
    keys = template.keys
    # The progress as encoded in the result (its last member; a string before it has its
    # quotes escaped, so this key is the first text of the kind): not encoded twice.
    last = result.partition('"progress":')[2][:-1] if progress is not None else ""
    started = job_id if state == "STARTED" else ""
    args: list[str | int | bytes] = [before, after, template.ttl, last, started]
    event: JsonObject = {"event": "progress" if progress is not None else "running"}
    event.update(job_id=job_id, seq=SEQ_MARK, ts=ts)
    telemetry.inject(event)  # the gateway's delivery span joins this one
    if progress is not None:
        event["progress"] = progress
    elif worker:
        event["worker"] = worker
    route = publisher.route()
    packed = route.split(event) if route is not None else None
    if route is not None and packed is not None:
        args += [route.channel(job_id), *packed]
    sent = time.time()
    if packed is not None:
        # The script pushes it: its answer (the seq) is read after the next run goes out.
        store_script.send(keys, args, functools.partial(_stored, event, state, sent, True))
    else:
        answer = store_script(keys, args)
        if _stored(event, state, sent, False, answer):
            publisher.publish(job_id, event)
    if state == "STARTED":
        # Its progress template now, not at its first report: jobs started together would
        # each build it at the same first step, while the others' progress goes out.
        _template(task.backend, request, "PROGRESS", job_id)


def _stored(event: JsonObject, state: str, sent: float, pushed: bool, answer: Any) -> bool:
    """Log the store script's answer for ``event``; whether it was stored (then its seq is
    the event's)."""
    job_id = event["job_id"]
    if isinstance(answer, Exception):
        logger.warning("job=%s state=%s could not be stored: %r", job_id, state.lower(), answer)
        return False
    seq = int(answer)
    if seq == 0:
        logger.info("job=%s state=%s discarded: the job has already ended", job_id, state.lower())
        return False
    event["seq"] = seq
    progress = event.get("progress")
    if progress is not None:
        logger.debug(
            "job=%s state=progress seq=%d percent=%s", job_id, seq, progress.get("percent")
        )
    else:
        logger.info("job=%s state=running seq=%d worker=%s", job_id, seq, event.get("worker"))
    if stage_times.active():
        if pushed:  # by the script, as it was sent (its answer was not waited for)
            stage_times.mark("sent", job_id, seq, sent)
            stage_times.mark("published", job_id, seq, sent)
        else:  # sent to Redis, and its answer back
            stage_times.mark("stored", job_id, seq, sent, time.time())
    return True


def wait_stored() -> None:
    """Return once every state this process sent to be stored is stored (or refused): what a
    job reported goes before its end."""
    store_script.wait()


# The store script on a connection of its own (its runs are the progress path's cost).
store_script = ScriptRunner(_STORE_UNLESS_ENDED)


@telemetry.traced("taskgate.store_and_push", lambda job_id, name, **_: name)
def emit_stored(job_id: str, name: str, *, terminal: bool, **fields: Any) -> int:
    """Push an event for a state Celery itself has already stored (retry, end states)."""
    seq = counter.terminal(job_id) if terminal else counter.next(job_id)
    event: JsonObject = {"event": name, "job_id": job_id, "seq": seq, "ts": now_ts(), **fields}
    telemetry.inject(event)
    logger.info("job=%s state=%s seq=%d", job_id, name, seq)
    if not terminal:
        # A retry: what this job's next run stores may be pushed by the store script, on
        # the job's thread; it must not overtake this event.
        publisher.publish(job_id, event)
        publisher.flush()
        return seq
    # Not flushed here: the job's thread need not wait for Redis, and ends of jobs that
    # finish together go out in one round trip. A process that exits (recycled or stopped)
    # flushes first (tasks/signals.py); one killed outright leaves the stored end state to
    # the gateway's fallback poll.
    publisher.publish(job_id, event)
    return seq
