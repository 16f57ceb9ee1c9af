"""How one setting is declared (:func:`setting`) and how its raw value is cast and checked.

A setting is a field of :class:`~taskgate.config.model.Config` whose metadata names it
(``TASKGATE_...``), gives its default (a value, or a function of the settings read before
it) and a one-line meaning for the generated table (docs/settings.md).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# A default computed from the values of the settings declared before this one.
Derived = Callable[[dict[str, Any]], Any]


class SettingError(ValueError):
    """A setting holds a value of the wrong shape; the message names it."""


@dataclasses.dataclass(frozen=True, slots=True)
class Spec:
    """What :func:`setting` records in a field's metadata."""

    name: str
    default: Any
    meaning: str
    default_text: str | None = None  # how the table shows a derived default
    minimum: float | None = None

    def resolve_default(self, earlier: dict[str, Any]) -> Any:
        return self.default(earlier) if callable(self.default) else self.default

    def shown_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        value = self.default
        if isinstance(value, tuple | list):
            return ",".join(str(item) for item in value) or "(none)"
        if isinstance(value, bool):
            return "on" if value else "off"
        return "(empty)" if value == "" else str(value)


def setting(
    name: str,
    default: Any,
    meaning: str,
    *,
    default_text: str | None = None,
    minimum: float | None = None,
) -> Any:
    """Declare a field of ``Config`` as the setting ``name`` (``Any``: it is a dataclass field)."""
    spec = Spec(name, default, meaning, default_text, minimum)
    return dataclasses.field(metadata={"setting": spec})


def spec_of(field: dataclasses.Field[Any]) -> Spec:
    spec = field.metadata.get("setting")
    if not isinstance(spec, Spec):
        raise TypeError(f"Config.{field.name} is not declared with setting()")
    return spec


def cast(name: str, kind: Any, raw: object) -> Any:
    """``raw`` (a string from the environment, or a value from Django settings) as ``kind``."""
    origin = get_origin(kind)
    if origin in (types.UnionType, typing.Union):  # X | None: none of ours, kept simple
        raise TypeError(f"{name}: optional settings are not supported")
    if origin is Literal:
        choices = get_args(kind)
        value = raw.strip().lower() if isinstance(raw, str) else raw
        if value not in choices:
            raise SettingError(f"{name} must be one of {', '.join(map(str, choices))}, not {raw!r}")
        return value
    if origin is tuple:
        return tuple(_items(name, raw))
    if kind is bool:
        return _boolean(name, raw)
    if kind is int:
        return _number(name, raw, int, "an integer")
    if kind is float:
        return _number(name, raw, float, "a number")
    if kind is Path:
        if not isinstance(raw, str | Path):
            raise SettingError(f"{name} must be a path, not {raw!r}")
        return Path(raw)
    if kind is str:
        if not isinstance(raw, str):
            raise SettingError(f"{name} must be a string, not {raw!r}")
        return raw
    raise TypeError(f"{name}: no cast for {kind!r}")


def _boolean(name: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    raise SettingError(f"{name} must be a boolean (1/0, true/false), not {raw!r}")


def _number(name: str, raw: object, kind: type[int] | type[float], what: str) -> int | float:
    if isinstance(raw, bool):
        raise SettingError(f"{name} must be {what}, not {raw!r}")
    if isinstance(raw, int | float) and (kind is float or isinstance(raw, int)):
        return kind(raw)
    if isinstance(raw, str):
        try:
            return kind(raw.strip())
        except ValueError:
            pass
    raise SettingError(f"{name} must be {what}, not {raw!r}")


def _items(name: str, raw: object) -> list[str]:
    """A comma-separated string (environment) or a list of strings (Django settings)."""
    if isinstance(raw, str):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if isinstance(raw, list | tuple) and all(isinstance(item, str) for item in raw):
        return list(raw)
    raise SettingError(f"{name} must be a comma-separated list, not {raw!r}")
