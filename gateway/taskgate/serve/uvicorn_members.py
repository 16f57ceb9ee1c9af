"""What a subclass of one of uvicorn's protocol classes relies on, checked at start-up.

taskgate.serve.uvicorn_websocket and taskgate.serve.uvicorn_http are built on members of
uvicorn's classes that are not its public API. Each lists the methods it overrides or calls
and the instance attributes it reads or writes; :func:`missing_members` names those the
installed uvicorn lacks, so a release that renames one is reported instead of silently
changing what the server does.
"""

from __future__ import annotations

import types
from collections.abc import Iterable


def names_used(cls: type) -> set[str]:
    """Every attribute name the class's own functions load or store (their code's co_names)."""
    names: set[str] = set()
    codes = [
        member.__code__
        for klass in cls.__mro__
        if klass is not object
        for member in vars(klass).values()
        if isinstance(member, types.FunctionType)
    ]
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return names


def missing_members(base: type, methods: Iterable[str], attributes: Iterable[str]) -> list[str]:
    """Of ``methods`` (callables) and ``attributes`` (set by ``base``'s own code), those
    ``base`` does not have."""
    missing = [name for name in methods if not callable(getattr(base, name, None))]
    used = names_used(base)
    return missing + [name for name in attributes if name not in used]
