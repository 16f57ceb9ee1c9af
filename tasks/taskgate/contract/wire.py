"""The wire's encoding, shared by worker and gateway: JSON objects, frames, timestamps, and
the ``progress`` object's shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

JsonObject = dict[str, Any]


def now_ts() -> str:
    """ISO 8601 UTC with microseconds, as every event's ``ts``."""
    return format_ts(datetime.now(UTC))


def format_ts(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # isoformat: the text strftime("%Y-%m-%dT%H:%M:%S.%fZ") gave, in a fraction of its time.
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_ts(value: object) -> str | None:
    """Normalise a stored timestamp (Celery's ``date_done``, or ours) to the event format."""
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, str):
        try:
            return format_ts(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def make_progress(current: float, total: float | None, message: str = "") -> JsonObject:
    """The ``progress`` object of the protocol: percent is clamped to 0..100, and ``null``
    when the total is not known."""
    percent: float | None = None
    if total is not None:
        percent = 0.0 if total <= 0 else round(max(0.0, min(100.0, current * 100.0 / total)), 2)
    return {"current": current, "total": total, "percent": percent, "message": message}


# One encoder for every call: json.dumps with options makes a new one each time.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=str)


def dumps(value: object) -> str:
    """Compact JSON for the wire; NaN and infinities are not JSON, so they are refused."""
    return _ENCODER.encode(value)


def encode_frame(value: object) -> bytes:
    """A wire frame as UTF-8 JSON: ``dumps`` compiled (orjson), one per event and process.

    NaN and infinities become ``null`` here instead of being refused: a frame is never
    dropped for a value a job put in its result. What orjson cannot encode (integers past
    64 bits, keys that are not strings) goes through ``dumps``.
    """
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        return dumps(value).encode()
