"""Stalled jobs: running, their worker alive (the lease is renewed), but silent.

A job that has reported progress and then none for longer than
``max(TASKGATE_STALL_FLOOR, TASKGATE_STALL_MULTIPLE * its usual interval)`` is announced to
its watchers with a ``stalled`` event (``stalled_since``: the time of its last progress),
and snapshots carry the same field; its next progress un-stalls it (that state is newer
than the stall, see :func:`taskgate.backends.state_store._with_stall`). Unlike ``lost`` the
job is not ended: a query waiting on a lock or a slow remote call may well go on.

The check runs in each gateway's fallback loop, over the running set it already reads for
lost jobs. Marking is atomic (:meth:`StateStore.mark_stalled`): when several gateways see
the same silent job, one marks and announces it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from taskgate.backends.state_store import StateStore
from taskgate.config import get_config
from taskgate.contract.states import JobState, State
from taskgate.delivery.hub import Hub

logger = logging.getLogger(__name__)


def stall_threshold(interval: object) -> float:
    """Seconds of silence after which a job whose usual interval is ``interval`` is stalled."""
    config = get_config()
    if isinstance(interval, int | float) and interval > 0:
        return max(config.stall_floor, config.stall_multiple * float(interval))
    return config.stall_floor


def silent_for(state: JobState, now: datetime | None = None) -> float | None:
    """Seconds since the job's last progress; None if it never reported any, or is not a
    leased running job of its own (a composite's parts are checked as jobs of their own)."""
    if state.state is not State.RUNNING or not state.leased or state.on_parts:
        return None
    if state.progress is None or state.ts is None or state.stalled_since is not None:
        return None
    last = datetime.fromisoformat(state.ts.replace("Z", "+00:00"))
    return ((now or datetime.now(UTC)) - last).total_seconds()


async def sweep_stalled(store: StateStore, hub: Hub, states: dict[str, JobState]) -> None:
    """Mark and announce every job of ``states`` (the running set, just read) that stalled."""
    for state in states.values():
        silent = silent_for(state)
        if silent is None or state.progress is None or state.ts is None:
            continue
        threshold = stall_threshold(state.progress.get("interval"))
        if silent <= threshold:
            continue
        stalled = await store.mark_stalled(state, state.ts)
        if stalled is None:
            continue  # it moved on, or another gateway marked it
        logger.warning(
            "job=%s state=stalled seq=%d silent=%.1fs threshold=%.1fs",
            state.job_id,
            stalled.seq,
            silent,
            threshold,
        )
        await hub.announce(state.job_id, stalled.event(), "stalled")
