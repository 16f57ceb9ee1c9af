"""What a socket may do with jobs: submit, watch, unwatch, cancel. Shared by both endpoints.

The job operations themselves (validation, rate limit, records, dispatch, cancel, the
ownership check) live in :mod:`gateway.jobops` and serve the HTTP API too; this adds the
socket's side: its watches, its limit on them, and the order of its frames.
"""

from __future__ import annotations

from django.conf import settings

from gateway import jobops
from gateway.connection import Connection
from gateway.identity import Principal
from gateway.protocol import ErrorCode, ProtocolError
from gateway.records import owned_record
from gateway.runtime import Runtime
from tasks.state import JsonObject


class JobService:
    """The operations of one socket."""

    def __init__(self, runtime: Runtime, connection: Connection, principal: Principal) -> None:
        self.runtime = runtime
        self.connection = connection
        self.principal = principal

    def _check_watch_limit(self, job_id: str | None = None) -> None:
        limit = int(settings.TASKGATE_MAX_WATCHES_PER_SOCKET)
        watches = self.connection.watches
        if job_id not in watches and len(watches) >= limit:
            raise ProtocolError(
                ErrorCode.LIMIT_EXCEEDED,
                f"this socket already watches {limit} jobs; unwatch some first",
                job_id=job_id,
            )

    async def submit(self, job_name: str, raw_params: JsonObject, ref: str | None) -> str:
        """Validate and dispatch a job, watching it on this socket. Returns the job id."""
        spec, params = jobops.validate(job_name, raw_params)
        self._check_watch_limit()
        submission = await jobops.record(self.principal, spec, params)
        job_id = submission.job_id
        # Subscribe before dispatching, so not even the first event can be missed.
        watch = self.connection.begin(job_id)
        await self.runtime.hub.add(job_id, self.connection)
        try:
            await jobops.dispatch(submission, self.principal)
        except ProtocolError:
            self.connection.watches.pop(job_id, None)
            await self.runtime.hub.remove(job_id, self.connection)
            raise
        self.connection.activate(watch, submission.accepted(ref))
        return job_id

    async def watch(self, job_id: str, after: int | None, ref: str | None) -> None:
        """Subscribe, then read the state and send it as a snapshot, then live events."""
        record = await owned_record(self.principal, job_id)
        self._check_watch_limit(job_id)
        hub = self.runtime.hub
        watch = self.connection.begin(job_id, after)
        await hub.add(job_id, self.connection)
        try:
            snapshot = await jobops.snapshot(record, ref)
        except ProtocolError:
            self.connection.watches.pop(job_id, None)
            await hub.remove(job_id, self.connection)
            raise
        self.connection.activate(watch, snapshot)

    async def unwatch(self, job_id: str) -> None:
        if self.connection.watches.pop(job_id, None) is not None:
            await self.runtime.hub.remove(job_id, self.connection)

    async def cancel(self, job_id: str, ref: str | None) -> None:
        """Revoke the job; its watchers get ``cancelled`` (carrying this ``ref`` here)."""
        watch = self.connection.watches.get(job_id)  # watched means owned: the check follows
        if watch is not None:
            watch.cancel_ref = ref
        await jobops.cancel(self.principal, job_id)
