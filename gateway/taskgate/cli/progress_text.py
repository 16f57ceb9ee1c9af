"""A job's progress in words for the terminal, as the page says it: "about 40 s left ·
3,200 rows/s", and "no progress for 45 s" while the job is stalled."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.progress import ProgressColumn, Task
from rich.text import Text


def format_eta(seconds: object) -> str:
    if not isinstance(seconds, int | float) or seconds != seconds:
        return ""
    left = max(0.0, float(seconds))
    return f"about {round(left / 60)} min left" if left >= 90 else f"about {round(left)} s left"


def format_rate(rate: object, unit: object = None) -> str:
    if not isinstance(rate, int | float) or rate != rate:
        return ""
    value = max(0.0, float(rate))
    if value >= 100:
        text = f"{round(value):,}"
    elif value >= 10:
        text = f"{round(value, 1):g}"
    else:
        text = f"{round(value, 2):g}"
    return f"{text} {unit}/s" if isinstance(unit, str) and unit else f"{text}/s"


def rate_line(progress: Any) -> str:
    """``"about 40 s left · 3,200 rows/s"`` from a ``progress`` object ("" if unknown)."""
    if not isinstance(progress, dict):
        return ""
    parts = [
        format_eta(progress.get("eta")),
        format_rate(progress.get("rate"), progress.get("unit")),
    ]
    return " · ".join(part for part in parts if part)


def stalled_text(since: object, now: datetime | None = None) -> str:
    """``"no progress for 45 s"`` since ``since`` (an event's ISO time); "" if none."""
    if not isinstance(since, str):
        return ""
    try:
        at = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return ""
    seconds = max(0.0, ((now or datetime.now(UTC)) - at).total_seconds())
    if seconds >= 90:
        return f"no progress for {round(seconds / 60)} min"
    return f"no progress for {int(seconds)} s"


class NoteColumn(ProgressColumn):
    """The rate line, or how long a stalled job has been silent (counting up as it renders)."""

    def render(self, task: Task) -> Text:
        since = task.fields.get("stalled_since")
        if since:
            return Text(stalled_text(since), style="yellow")
        return Text(str(task.fields.get("note", "")), style="dim")
