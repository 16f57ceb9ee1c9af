"""``GET /api/jobs/<job_id>/artifact``: stream a finished job's file to its owner.

The job must have succeeded with a result that names an artifact (see ``tasks.artifacts``),
the caller must own it (its session or user, staff excepted), and the file must still be
there (artifacts are swept after ``TASKGATE_ARTIFACT_MAX_AGE``). The file is read in a
thread, chunk by chunk, and streamed through an async iterator, so a large report never
sits in memory and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from gateway.identity import principal_for_request
from gateway.jobstore import StoreUnavailable
from gateway.protocol import ErrorCode
from gateway.runtime import get_runtime
from tasks.artifacts import ArtifactError, artifact_path
from tasks.state import State

logger = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
_STATUS = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INVALID_MESSAGE: 400,
}


def _refuse(code: ErrorCode, message: str, job_id: str) -> JsonResponse:
    body = {"code": code.value, "message": message, "job_id": job_id}
    return JsonResponse(body, status=_STATUS[code])


async def _chunks(handle: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def artifact(request: HttpRequest, job_id: str) -> HttpResponseBase:
    principal = await principal_for_request(request)
    if principal is None and not settings.TASKGATE_ALLOW_ANONYMOUS:
        return _refuse(ErrorCode.FORBIDDEN, "sign in to download files", job_id)
    store = get_runtime().store
    try:
        record = await store.record(job_id)
        if record is None:
            return _refuse(ErrorCode.NOT_FOUND, "no such job (or it expired)", job_id)
        if principal is None or not principal.may_access(record.owner):
            return _refuse(ErrorCode.FORBIDDEN, "this job belongs to someone else", job_id)
        state = await store.state(job_id)
    except StoreUnavailable:
        return _refuse(ErrorCode.UNAVAILABLE, "Redis is unreachable", job_id)
    result = state.result if state.state is State.SUCCESS else None
    described = result.get("artifact") if isinstance(result, dict) else None
    if not isinstance(described, dict) or not isinstance(described.get("name"), str):
        return _refuse(ErrorCode.NOT_FOUND, "this job has no file to download", job_id)
    try:
        path = artifact_path(job_id, described["name"])
    except ArtifactError:
        return _refuse(ErrorCode.NOT_FOUND, "this job has no file to download", job_id)
    try:
        handle: IO[bytes] = await asyncio.to_thread(Path.open, path, "rb")
        size = await asyncio.to_thread(lambda: path.stat().st_size)
    except FileNotFoundError:
        return _refuse(ErrorCode.NOT_FOUND, "the file has expired and was removed", job_id)
    content_type = described.get("content_type")
    response = StreamingHttpResponse(
        _chunks(handle),
        content_type=content_type if isinstance(content_type, str) else "application/octet-stream",
    )
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = content_disposition_header(True, path.name) or "attachment"
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    logger.info("job %s: artifact %s sent to %s", job_id, path.name, record.owner)
    return response
