"""The gateway's writes to a composite job's aggregate (see tasks/parts.py): cancel, lost part.

Both go through the same Lua scripts the workers use, so a cancel, a part's failure and a
lost part race safely: whichever reaches Redis first ends the job, the others change nothing.
"""

from __future__ import annotations

from typing import Any

from gateway.jobstore import JobStore, celery_meta, meta_key, text, ttl
from tasks.parts import CANCEL_SCRIPT, UPDATE_SCRIPT, decode_ids, end_meta
from tasks.state import JobState, dumps, now_ts, parts_key, progress_key, seq_key


async def cancel_composite(store: JobStore, job_id: str) -> tuple[str, list[str]]:
    """Cancel a composite job while its parts run: stores its end, returns the parts to
    revoke. ``none``: not a composite; ``ended``; ``merging``: only its merge step is left
    (revoke it like any job)."""
    payload = celery_meta(job_id, "REVOKED", "TaskRevokedError", "cancelled")
    keys = [parts_key(job_id), meta_key(job_id)]
    outcome, ids = await store.eval(CANCEL_SCRIPT, keys, [payload, ttl()])
    return text(outcome) or "none", decode_ids(ids)


async def settle_lost_part(store: JobStore, state: JobState) -> list[str]:
    """Fail a composite whose running part lost its worker; returns the parts to revoke.

    Nothing happens if the job ended meanwhile (the script ignores updates after the end).
    """
    index = state.lost_part
    if index is None or not state.parts:
        return []
    part = state.parts[index - 1]
    name = str(part.get("name"))
    error = {"type": "lost", "message": f"part {name!r} failed: its worker died", "part": name}
    job_id = state.job_id
    keys = [parts_key(job_id), meta_key(job_id), seq_key(job_id), progress_key(job_id)]
    args: list[Any] = [str(index), "failure", "", now_ts(), ttl()]
    args += [end_meta(job_id, "FAILURE", error), dumps(error)]
    raw = await store.eval(UPDATE_SCRIPT, keys, args)
    if text(raw[0]) != "failure":
        return []
    # The part's own state, too: no worker will ever store one for it.
    await store.settle_lost(str(part.get("job_id")), requeue=False)
    return decode_ids(raw[4])
