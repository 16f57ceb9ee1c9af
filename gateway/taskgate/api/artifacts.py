"""``GET /api/jobs/{job_id}/artifact``: stream a finished job's file to its owner.

The job must have succeeded with a result that names an artifact (see
``taskgate.worker.artifacts``), the caller must own it (``owned_record``: its token, user or
session; staff excepted), and the file must still be there (artifacts are swept after
``TASKGATE_ARTIFACT_MAX_AGE``). The
file is read in a thread, chunk by chunk, and streamed through an async iterator, so a large
report never sits in memory and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from django.http import HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header
from ninja import Router

from taskgate.api.jobs import JobId
from taskgate.api.schemas import ERRORS
from taskgate.auth.http import request_principal
from taskgate.auth.principal import owner_log_id
from taskgate.backends.state_store import StoreUnavailable
from taskgate.contract.states import State
from taskgate.delivery.runtime import get_runtime
from taskgate.jobs.access import owned_record
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError
from taskgate.worker.artifacts import ArtifactError, artifact_path

logger = logging.getLogger(__name__)

router = Router(tags=["jobs"])

CHUNK_BYTES = 256 * 1024
_FILE_DOC = {
    "responses": {
        "200": {
            "description": "The job's file, with its content type and file name.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    }
}


def _no_file(job_id: str, message: str = "this job has no file to download") -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_FOUND, message, job_id=job_id)


async def _chunks(handle: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


@router.get(
    "/jobs/{job_id}/artifact",
    response=ERRORS,
    summary="Download a job's file",
    openapi_extra=_FILE_DOC,
)
async def artifact(request: HttpRequest, job_id: JobId) -> StreamingHttpResponse:
    """The file a finished job produced (reports), for its owner only."""
    principal = await request_principal(request)
    record = await owned_record(principal, job_id)
    try:
        state = await get_runtime().store.state(job_id)
    except StoreUnavailable:
        raise ProtocolError(ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id=job_id) from None
    result = state.result if state.state is State.SUCCESS else None
    described = result.get("artifact") if isinstance(result, dict) else None
    if not isinstance(described, dict) or not isinstance(described.get("name"), str):
        raise _no_file(job_id)
    try:
        path = artifact_path(job_id, described["name"])
        handle: IO[bytes] = await asyncio.to_thread(Path.open, path, "rb")
        size = await asyncio.to_thread(lambda: path.stat().st_size)
    except ArtifactError:
        raise _no_file(job_id) from None
    except FileNotFoundError:
        raise _no_file(job_id, "the file has expired and was removed") from None
    content_type = described.get("content_type")
    response = StreamingHttpResponse(
        _chunks(handle),
        content_type=content_type if isinstance(content_type, str) else "application/octet-stream",
    )
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = content_disposition_header(True, path.name) or "attachment"
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    logger.info("job=%s artifact=%s sent owner=%s", job_id, path.name, owner_log_id(record.owner))
    return response
