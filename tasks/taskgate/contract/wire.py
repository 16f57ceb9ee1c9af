"""The wire's encoding, shared by worker and gateway: JSON objects, frames, timestamps, and
the ``progress`` object's shape."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

import orjson

JsonObject = dict[str, Any]


# The text of the current second (up to its fraction), made once a second by now_ts.
_second: tuple[int, str] = (0, "")


def now_ts() -> str:
    """ISO 8601 UTC with microseconds, as every event's ``ts``: :func:`format_ts`'s text,
    whose date and time of day are made once a second (after 100 ms idle, making them was a
    tenth of the time a progress report took to leave for Redis)."""
    global _second
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    made_for, prefix = _second
    if made_for != seconds:
        prefix = format_ts(datetime.fromtimestamp(seconds, UTC))[:-7]  # "...:SS." of ".000000Z"
        _second = (seconds, prefix)
    # Six digits by the seventh's cut: a format spec (``:06d``) took 7 us more after 100 ms idle.
    return f"{prefix}{str(1_000_000 + micros)[1:]}Z"


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
        percent = 0.0 if total <= 0 else round_to(max(0.0, min(100.0, current * 100.0 / total)), 2)
    return {"current": current, "total": total, "percent": percent, "message": message}


_SCALES = (1.0, 10.0, 100.0, 1000.0)
_WHOLE = 2.0**52  # from here on a float has no fraction left to round


def round_to(value: float, digits: int) -> float:
    """``value`` to ``digits`` decimals (0 to 3), half up: the float nearest that decimal, as
    ``round`` gives it (but for ties), without its exact decimal conversion: after 100 ms
    idle that took 22 us here against 12 (docs/benchmarks.md, round 6). Every progress
    event rounds four numbers (its percent, rate, ETA and interval) before it is sent."""
    scale = _SCALES[digits]
    scaled = value * scale
    if not -_WHOLE < scaled < _WHOLE:
        return value  # as large as that, infinite or NaN: as it is
    return math.floor(scaled + 0.5) / scale


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
