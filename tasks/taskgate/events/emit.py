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
from taskgate.contract.wire import JsonObject, dumps, encode_frame, now_ts
from taskgate.events import stage_times
from taskgate.events.layer_pipeline import DirectRoute
from taskgate.events.publisher import publisher
from taskgate.events.redis_client import Prepared, ScriptRunner, Superseded, result_redis

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
#
# The event is one JSON text, its frame, made by the worker with a gap where the seq goes:
# the script fills it in and the same text is the stored result (with the worker's name
# added where the frame does not carry it), the pushed frame, and the message of the layer
# it publishes (one encoding per report, on the worker's cold path after idle).
# KEYS: meta, seq, progress, the running set. ARGV: what a job's runs in one state share
# (packed once, at its start): 1-2 the meta before and after its result, 3 ttl, 4 the job id
# when it starts running (else ''), 5 the frame before its seq, 6 what the stored result has
# besides the frame (its worker, or ''), 7 the layer's channel when the script pushes the
# event itself (a DirectRoute: one round trip, stored before published; else ''); then each
# run's own: 8 the layer's message up to the frame (msgpack: the frame is its last value, as
# binary, whose size this script writes), 9 the progress (or ''), 10 the frame after its seq
# up to its closing brace.
# The end check reads the status where Celery writes it, first (decoding the whole meta
# when it is not there, as with another serializer).
_STORE_UNLESS_ENDED = """
local current = redis.call('GET', KEYS[1])
if current then
  local status = string.match(current, '^{"status": "(%u+)"')
  if not status then
    local ok, meta = pcall(cjson.decode, current)
    status = ok and type(meta) == 'table' and meta.status or nil
  end
  if status == 'SUCCESS' or status == 'FAILURE' or status == 'REVOKED' then
    return 0
  end
end
local seq = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local head = ARGV[5] .. seq .. ARGV[10]
redis.call('SET', KEYS[1], ARGV[1] .. head .. ARGV[6] .. '}' .. ARGV[2], 'EX', ARGV[3])
if ARGV[9] ~= '' then redis.call('SET', KEYS[3], ARGV[9], 'EX', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[4], redis.call('TIME')[1], ARGV[4]) end
if ARGV[7] ~= '' then
  local frame = head .. '}'
  local n = #frame
  local size
  if n < 256 then
    size = string.char(196, n)
  elseif n < 65536 then
    size = string.char(197, math.floor(n / 256), n % 256)
  else
    size = string.char(198, math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
                       math.floor(n / 256) % 256, n % 256)
  end
  redis.call('PUBLISH', ARGV[7], ARGV[8] .. size .. frame)
end
return seq
"""
# Stands for the result in a job's encoded meta (:func:`_template`).
_RESULT_MARK = "taskgate-result-7c0e5b1d"
_TEMPLATES_KEPT = 256
_EVENT_NAMES = {"STARTED": "running", "PROGRESS": "progress"}


@dataclass(frozen=True)
class _Template:
    """What every run of one job in one state shares, packed once (``prepared``): Celery's
    encoded meta around its result, the store script's keys, the states' time to live, the
    frame's text before its seq, and where the script publishes it."""

    request: Context
    children: int
    prepared: Prepared
    route: DirectRoute | None
    worker: str | None
    worker_json: str  # ',"worker":"..."' ('' when not known)


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
    worker = str(request.hostname) if getattr(request, "hostname", None) else None
    worker_json = f',"worker":{dumps(worker)}' if worker else ""
    head = f'{{"event":{dumps(_EVENT_NAMES[state])},"job_id":{dumps(job_id)},"seq":'
    route = publisher.route()
    shared: list[str | int] = [before, after, result_ttl(), job_id if state == "STARTED" else ""]
    shared += [head, worker_json if state == "PROGRESS" else ""]
    shared.append(route.channel(job_id) if route is not None else "")
    prepared = store_script.prepare(keys, shared)
    made = _Template(request, children, prepared, route, worker, worker_json)
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
    template = _template(task.backend, request, state, job_id)
    if progress is not None:
        last = encode_frame(progress)
        tail = b',"ts":"%b","progress":%b' % (ts.encode(), last)
    else:
        last, tail = b"", f',"ts":"{ts}"{template.worker_json}'.encode()
    route = template.route
    sent = time.time()
    if route is not None:
        # The script pushes it (with the span's traceparent, tracing on); its answer (the
        # seq) is read later, with others (ScriptRunner.send).
        carrier: JsonObject = {}
        telemetry.inject(carrier)
        head = route.message_head(carrier.get(telemetry.TRACEPARENT))
        on_answer = functools.partial(_stored, job_id, template.worker, progress, sent, True)
        # A job's newer progress supersedes its older (should runs be sent again).
        key = job_id if progress is not None else None
        store_script.send_prepared(template.prepared, (head, last, tail), on_answer, key)
    else:
        answer = store_script.run_prepared(template.prepared, (b"", last, tail))
        seq = _stored(job_id, template.worker, progress, sent, False, answer)
        if seq is not None:
            event: JsonObject = {"event": _EVENT_NAMES[state], "job_id": job_id, "seq": seq}
            event["ts"] = ts
            telemetry.inject(event)  # the gateway's delivery span joins this one
            if progress is not None:
                event["progress"] = progress
            elif template.worker:
                event["worker"] = template.worker
            publisher.publish(job_id, event)
    if state == "STARTED":
        # Its progress template now, not at its first report: jobs started together would
        # each build it at the same first step, while the others' progress goes out.
        _template(task.backend, request, "PROGRESS", job_id)


def _stored(
    job_id: str,
    worker: str | None,
    progress: JsonObject | None,
    sent: float,
    pushed: bool,
    answer: Any,
) -> int | None:
    """Log the store script's answer for the job's running state (``progress`` None) or
    progress: its seq if it was stored."""
    state = "running" if progress is None else "progress"
    if isinstance(answer, Superseded):
        logger.debug("job=%s state=%s superseded by a newer one", job_id, state)
        return None
    if isinstance(answer, Exception):
        logger.warning("job=%s state=%s could not be stored: %r", job_id, state, answer)
        return None
    seq = int(answer)
    if seq == 0:
        logger.info("job=%s state=%s discarded: the job has already ended", job_id, state)
        return None
    if progress is not None:
        percent = progress.get("percent")
        logger.debug("job=%s state=progress seq=%d percent=%s", job_id, seq, percent)
    else:
        logger.info("job=%s state=running seq=%d worker=%s", job_id, seq, worker)
    if stage_times.active():
        if pushed:  # by the script, as it was sent (its answer was not waited for)
            stage_times.mark("sent", job_id, seq, sent)
            stage_times.mark("published", job_id, seq, sent)
        else:  # sent to Redis, and its answer back
            stage_times.mark("stored", job_id, seq, sent, time.time())
    return seq


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
