"""The aggregate of a composite job: its parts' states and progress, folded into one stream.

A composite job (see :mod:`taskgate.worker.composite`) keeps one JSON document in Redis,
``taskgate:parts:<job_id>``: each part's name, job, id, weight, state, last progress and
``done`` (the highest fraction it ever reported), and the merge step's. Every change of a
part goes through one Lua script, so concurrent parts in different processes never lose an
update, and the script, in the same atomic step:

- bumps the *parent's* seq counter (``taskgate:seq:<job_id>``), so the parent's events keep
  one strictly increasing ``seq`` whichever part caused them;
- writes the parent's Celery meta (status ``PARTS`` while the parts run, ``PROGRESS`` once
  the merge step runs) with the overall progress and the parts, so a snapshot or the
  fallback poll rebuilds exactly what the pushes said;
- decides, once, the moments that must happen exactly once: the last part to succeed
  starts the merge step; the first part to fail (or be cancelled) ends the whole job, stores
  its terminal state and lists the parts still to revoke.

Overall progress is weighted by the parts' declared weights (for reports: each part's row
total), fixed when the job starts, and each part counts with its highest fraction so far:
the overall bar never goes backwards, even when a part that starts late reports its first 0 %.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from taskgate.config.celery_app import celery_app, result_ttl
from taskgate.contract.keys import RUNNING_KEY, parts_key, progress_key, seq_key
from taskgate.contract.wire import JsonObject, dumps, now_ts
from taskgate.events.publisher import publisher
from taskgate.events.redis_client import result_redis

logger = logging.getLogger(__name__)

PART_KWARG = "taskgate_part"

# The common tail of both scripts: mark every part that has not ended as cancelled.
_CANCEL_REST = """
local function cancel_rest(doc)
  local ids = {}
  for _, p in ipairs(doc.parts) do
    if p.state ~= 'success' and p.state ~= 'failure' and p.state ~= 'cancelled' then
      p.state = 'cancelled'
      table.insert(ids, p.job_id)
    end
  end
  return ids
end
"""

# KEYS: doc, parent meta, parent seq, parent progress.
# ARGV: target ('merge' or the part's 1-based index), state, progress JSON or '', ts, ttl,
#       the parent's terminal meta (for failure/cancelled) or '', the part's error JSON or ''.
UPDATE_SCRIPT = (
    _CANCEL_REST
    + """
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing'} end
local doc = cjson.decode(raw)
if doc.ended ~= '' then return {'ended'} end
local target, state = ARGV[1], ARGV[2]
local entry
if target == 'merge' then entry = doc.merge else entry = doc.parts[tonumber(target)] end
if not entry then return {'missing'} end
entry.state = state
if ARGV[3] ~= '' then
  local p = cjson.decode(ARGV[3])
  entry.progress = p
  local total = tonumber(p.total) or 0
  if total > 0 then
    local f = math.min(1, math.max(0, (tonumber(p.current) or 0) / total))
    if f > entry.done then entry.done = f end
  end
end
if state == 'success' then entry.done = 1 end
if ARGV[7] ~= '' then entry.error = cjson.decode(ARGV[7]) end
if target == 'merge' then doc.merging = true end
local finished, current, total = 0, 0, 0
for _, p in ipairs(doc.parts) do
  if p.state == 'success' then finished = finished + 1 end
  current = current + p.weight * p.done
  total = total + p.weight
end
current = current + doc.merge.weight * doc.merge.done
total = total + doc.merge.weight
local outcome = 'progress'
local revoke = {}
if state == 'failure' or state == 'cancelled' then
  doc.ended = state
  revoke = cancel_rest(doc)
  outcome = state
elseif target ~= 'merge' and finished == #doc.parts and not doc.merge_sent then
  doc.merge_sent = true
  outcome = 'merge'
end
local message = finished .. ' of ' .. #doc.parts .. ' parts done'
if doc.merging then
  message = 'merging'
  if type(doc.merge.progress) == 'table' and doc.merge.progress.message then
    message = 'merging: ' .. doc.merge.progress.message
  end
end
local percent = 0
if total > 0 then percent = math.min(100, math.floor(current * 10000 / total + 0.5) / 100) end
local overall = {current = math.floor(current * 100 + 0.5) / 100, total = total,
                 percent = percent, message = message}
local seq = 0
if outcome == 'progress' or outcome == 'merge' then
  seq = redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  local status = 'PARTS'
  if doc.merging then status = 'PROGRESS' end
  local meta = {status = status, traceback = cjson.null, date_done = cjson.null,
                task_id = doc.job_id,
                result = {seq = seq, ts = ARGV[4], progress = overall, parts = doc.parts}}
  redis.call('SET', KEYS[2], cjson.encode(meta), 'EX', ARGV[5])
else
  redis.call('SET', KEYS[2], ARGV[6], 'EX', ARGV[5])
end
redis.call('SET', KEYS[4], cjson.encode(overall), 'EX', ARGV[5])
redis.call('SET', KEYS[1], cjson.encode(doc), 'EX', ARGV[5])
return {outcome, tostring(seq), cjson.encode(overall), cjson.encode(doc.parts),
        cjson.encode(revoke), doc.job, doc.params_json}
"""
)

# The gateway's cancel. KEYS: doc, parent meta. ARGV: the REVOKED meta, ttl.
# Answers 'none' (not a composite), 'ended', 'merging' (only the merge step is left: revoke
# it like any job) or 'cancelled' with the ids of the parts to revoke.
CANCEL_SCRIPT = (
    _CANCEL_REST
    + """
local raw = redis.call('GET', KEYS[1])
if not raw then return {'none', '[]'} end
local doc = cjson.decode(raw)
if doc.ended ~= '' then return {'ended', '[]'} end
if doc.merge_sent then return {'merging', '[]'} end
doc.ended = 'cancelled'
local ids = cancel_rest(doc)
redis.call('SET', KEYS[1], cjson.encode(doc), 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return {'cancelled', cjson.encode(ids)}
"""
)


def decode_ids(raw: bytes | str) -> list[str]:
    """A JSON list of ids from a script (cjson writes an empty list as ``{}``)."""
    value = json.loads(raw)
    return [str(item) for item in value] if isinstance(value, list) else []


def initial_doc(
    job_id: str, job: str, params: JsonObject, parts: list[JsonObject], merge_weight: float
) -> JsonObject:
    """The aggregate of a composite job about to be dispatched: every part queued."""
    return {
        "job_id": job_id,
        "job": job,
        "params_json": dumps(params),
        "ended": "",
        "merge_sent": False,
        "merging": False,
        "parts": [{**part, "state": "queued", "progress": None, "done": 0} for part in parts],
        "merge": {"weight": merge_weight, "state": "queued", "progress": None, "done": 0},
    }


def save_doc(doc: JsonObject) -> None:
    """Write the aggregate; the job joins the running set (the sweep checks its parts)."""
    job_id = str(doc["job_id"])
    pipe = result_redis().pipeline(transaction=True)
    pipe.set(parts_key(job_id), dumps(doc), ex=result_ttl())
    pipe.zadd(RUNNING_KEY, {job_id: time.time()})
    pipe.execute()


def load_doc(job_id: str) -> JsonObject | None:
    raw = result_redis().get(parts_key(job_id))
    if raw is None:
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else None


def end_meta(job_id: str, status: str, error: JsonObject | None) -> Any:
    """The parent's terminal Celery meta when a part ends it (``FAILURE`` or ``REVOKED``)."""
    backend: Any = celery_app().backend
    if error is None:
        error = {"type": "TaskRevokedError", "message": "cancelled"}
    result: JsonObject = {
        "exc_type": "WorkerLostError" if error.get("type") == "lost" else error["type"],
        "exc_message": [error.get("message", "")],
        "exc_module": "builtins",
    }
    if "part" in error:
        result["part"] = error["part"]
    meta: JsonObject = {
        "status": status,
        "result": result,
        "traceback": None,
        "children": [],
        "date_done": now_ts(),
        "task_id": job_id,
    }
    return backend.encode(meta)


@dataclass(frozen=True, slots=True)
class Update:
    """What one aggregate update decided."""

    outcome: str  # progress, merge, failure, cancelled, ended (ignored), missing
    seq: int = 0
    parent: str = ""
    job: str = ""
    params: JsonObject | None = None
    revoke: tuple[str, ...] = ()


def update(
    parent: str,
    target: str,
    state: str,
    *,
    progress: JsonObject | None = None,
    error: JsonObject | None = None,
) -> Update:
    """Fold one change of a part (or of the merge step) into the parent, and push it."""
    ts = now_ts()
    ttl = result_ttl()
    terminal: str = ""
    if state == "failure":
        terminal = end_meta(parent, "FAILURE", error)
    elif state == "cancelled":
        terminal = end_meta(parent, "REVOKED", None)
    backend: Any = celery_app().backend
    keys = [parts_key(parent), backend.get_key_for_task(parent), seq_key(parent)]
    keys.append(progress_key(parent))
    args: list[str | int] = [
        target,
        state,
        dumps(progress) if progress is not None else "",
        ts,
        ttl,
        terminal,
        dumps(error) if error is not None else "",
    ]
    raw = result_redis().eval(UPDATE_SCRIPT, len(keys), *keys, *args)
    outcome = raw[0].decode()
    if outcome in ("missing", "ended"):
        return Update(outcome, parent=parent)
    seq = int(raw[1])
    if outcome in ("progress", "merge"):
        event: JsonObject = {"event": "progress", "job_id": parent, "seq": seq, "ts": ts}
        event["progress"] = json.loads(raw[2])
        event["parts"] = json.loads(raw[3])
        logger.debug("job=%s state=progress seq=%d part=%s", parent, seq, target)
        publisher.publish(parent, event)
    return Update(
        outcome,
        seq=seq,
        parent=parent,
        job=raw[5].decode(),
        params=json.loads(raw[6]),
        revoke=tuple(decode_ids(raw[4])),
    )


@dataclass(frozen=True, slots=True)
class PartLink:
    """How a running part reports into its parent (carried in the part's kwargs)."""

    parent: str
    index: int
    name: str

    @classmethod
    def from_kwargs(cls, raw: object) -> PartLink | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(str(raw["parent"]), int(raw["index"]), str(raw["name"]))
        except (KeyError, TypeError, ValueError):
            logger.warning("ignoring a malformed %s: %r", PART_KWARG, raw)
            return None

    def kwarg(self) -> JsonObject:
        return {"parent": self.parent, "index": self.index, "name": self.name}

    def report(self, state: str, **fields: Any) -> Update:
        return update(self.parent, str(self.index), state, **fields)
