"""taskgate's settings: one typed :class:`Config`, read once per process (:func:`get_config`).

In a team's project each ``TASKGATE_*`` name is looked up in its Django settings first, then
in the environment; taskgate's own Django project (``taskgate.serve.settings``) reads the
environment once and keeps the result as ``TASKGATE_CONFIG``, which everything then uses.
"""

from __future__ import annotations

import functools
import os

from taskgate.config.fields import SettingError
from taskgate.config.model import Config

__all__ = ["Config", "SettingError", "get_config"]


@functools.cache
def get_config() -> Config:
    """This process's settings (Django must be configured)."""
    from django.conf import settings

    configured = getattr(settings, "TASKGATE_CONFIG", None)
    if isinstance(configured, Config):
        return configured

    def lookup(name: str) -> object | None:
        value = getattr(settings, name, None)
        return value if value is not None else (os.environ.get(name) or None)

    return Config.load(lookup)
