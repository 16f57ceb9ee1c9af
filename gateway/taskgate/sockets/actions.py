"""What a socket may do with jobs: submit, watch, unwatch, cancel. Shared by both endpoints.

The job operations themselves (validation, rate limit, rows and records, dispatch, cancel,
the ownership check) live in :mod:`taskgate.jobs` and serve the HTTP API too; this adds the
socket's side: its watches, its limit on them, and the order of its frames.
"""

from __future__ import annotations

from taskgate.auth.principal import Principal
from taskgate.config import get_config
from taskgate.contract.wire import JsonObject
from taskgate.delivery.runtime import Runtime
from taskgate.delivery.watcher import Watcher
from taskgate.jobs import cancel, submit
from taskgate.jobs.access import owned_record
from taskgate.jobs.snapshot import watch_snapshot
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError


class SocketActions:
    """What one socket does with jobs."""

    def __init__(self, runtime: Runtime, watcher: Watcher, principal: Principal) -> None:
        self.runtime = runtime
        self.watcher = watcher
        self.principal = principal

    def _check_watch_limit(self, job_id: str | None = None) -> None:
        limit = get_config().max_watches_per_socket
        watches = self.watcher.watches
        if job_id not in watches and len(watches) >= limit:
            raise ProtocolError(
                ErrorCode.LIMIT_EXCEEDED,
                f"this socket already watches {limit} jobs; unwatch some first",
                job_id=job_id,
            )

    async def submit(self, job_name: str, raw_params: JsonObject, ref: str | None) -> str:
        """Validate and dispatch a job, watching it on this socket. Returns the job id."""
        spec, params = submit.validate(job_name, raw_params)
        self._check_watch_limit()
        submission = await submit.prepare(self.principal, spec, params)
        job_id = submission.job_id
        # Subscribe before dispatching, so not even the first event can be missed.
        watch = self.watcher.begin(job_id)
        await self.runtime.hub.add(job_id, self.watcher)
        try:
            await submit.dispatch(submission, self.principal)
        except ProtocolError:
            self.watcher.watches.pop(job_id, None)
            await self.runtime.hub.remove(job_id, self.watcher)
            raise
        self.watcher.activate(watch, submission.accepted(ref))
        return job_id

    async def watch(self, job_id: str, after: int | None, ref: str | None) -> None:
        """Subscribe, then read the state and send it as a snapshot, then live events."""
        record = await owned_record(self.principal, job_id)
        self._check_watch_limit(job_id)
        hub = self.runtime.hub
        watch = self.watcher.begin(job_id, after)
        await hub.add(job_id, self.watcher)
        try:
            snapshot = await watch_snapshot(record, ref)
        except ProtocolError:
            self.watcher.watches.pop(job_id, None)
            await hub.remove(job_id, self.watcher)
            raise
        self.watcher.activate(watch, snapshot)

    async def unwatch(self, job_id: str) -> None:
        if self.watcher.watches.pop(job_id, None) is not None:
            await self.runtime.hub.remove(job_id, self.watcher)

    async def cancel(self, job_id: str, ref: str | None) -> None:
        """Revoke the job; its watchers get ``cancelled`` (carrying this ``ref`` here)."""
        watch = self.watcher.watches.get(job_id)  # watched means owned: the check follows
        if watch is not None:
            watch.cancel_ref = ref
        await cancel.cancel(self.principal, job_id)
