"""The v1 requests a client sends (docs/protocol.md), and the parsing of its frames into them.

Parsing never trusts the client: every refusal is a :class:`ProtocolError` carrying one of
the protocol's error codes, and nothing here uses ``assert``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from taskgate.contract.wire import JsonObject
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError

MAX_REF_LENGTH = 64


MAX_JOB_ID_LENGTH = 64


SHORTHAND_JOB = "demo.echo"


OPS: frozenset[str] = frozenset({"submit", "watch", "unwatch", "cancel", "ping"})


@dataclass(frozen=True, slots=True)
class Ping:
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Submit:
    job: str
    params: JsonObject = field(default_factory=dict)
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Watch:
    job_id: str
    after: int | None = None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Unwatch:
    job_id: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    job_id: str
    ref: str | None = None


Request = Ping | Submit | Watch | Unwatch | Cancel


def decode_frame(text: str) -> object:
    """Parse a text frame as JSON; NaN/Infinity and absurd nesting are ``invalid_json``."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(
            ErrorCode.INVALID_JSON, f"the frame is not valid JSON: {_short(exc)}"
        ) from None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def extract_ref(payload: object) -> str | None:
    """The request's ``ref`` if it is a valid one, so even a refusal can echo it."""
    if isinstance(payload, dict):
        ref = payload.get("ref")
        if isinstance(ref, str) and len(ref) <= MAX_REF_LENGTH:
            return ref
    return None


def parse_request(payload: object) -> Request:
    """Validate a decoded frame into a :class:`Request`."""
    if not isinstance(payload, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "a message must be a JSON object")
    ref = payload.get("ref")
    if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_REF_LENGTH):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"ref must be a string of at most {MAX_REF_LENGTH} characters",
        )
    if "op" not in payload and "task_id" in payload:
        # The original article's shorthand: {"task_id": 1} submits demo.echo.
        params = {key: value for key, value in payload.items() if key != "ref"}
        return Submit(job=SHORTHAND_JOB, params=params, ref=ref)
    op = payload.get("op")
    if not isinstance(op, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "op is missing or not a string")
    if op not in OPS:
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, f"unknown op {_clip(op)!r}; expected one of {sorted(OPS)}"
        )
    if op == "ping":
        return Ping(ref=ref)
    if op == "submit":
        job = payload.get("job")
        if not isinstance(job, str) or not job:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "submit needs job, a non-empty string")
        params = payload.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "params must be an object")
        return Submit(job=job, params=params, ref=ref)
    job_id = payload.get("job_id")
    if not isinstance(job_id, str) or not job_id or len(job_id) > MAX_JOB_ID_LENGTH:
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"{op} needs job_id, a string of 1 to {MAX_JOB_ID_LENGTH} characters",
        )
    if op == "unwatch":
        return Unwatch(job_id=job_id, ref=ref)
    if op == "cancel":
        return Cancel(job_id=job_id, ref=ref)
    after = payload.get("after")
    if after is not None and (
        isinstance(after, bool) or not isinstance(after, int) or not 0 <= after < 2**63
    ):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "after must be a non-negative integer")
    return Watch(job_id=job_id, after=after, ref=ref)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
