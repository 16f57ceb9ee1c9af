"""docs/settings.md's table, generated from the declarations of :class:`Config`."""

from __future__ import annotations

import dataclasses

from taskgate.config.fields import spec_of
from taskgate.config.model import Config

HEADER = "| variable | default | meaning |\n| --- | --- | --- |\n"


def settings_table() -> str:
    rows = []
    for field in dataclasses.fields(Config):
        spec = spec_of(field)
        default = spec.shown_default()
        if not default.startswith("`"):
            default = f"`{default}`"
        rows.append(f"| `{spec.name}` | {default} | {spec.meaning} |\n")
    return HEADER + "".join(rows)
