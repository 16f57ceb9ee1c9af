"""The ``taskgate`` command: ``taskgate up`` and the rest (see :mod:`taskgate.cli.parser`)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from django.core.exceptions import ImproperlyConfigured

from taskgate.cli.parser import build_parser
from taskgate.config import SettingError


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    command = "taskgate"
    try:
        args = build_parser().parse_args(argv)
        command = f"taskgate {args.command}"
        return int(args.func(args))
    except (ImproperlyConfigured, SettingError) as exc:
        # A configuration mistake: say what it is, without a traceback.
        sys.stderr.write(f"{command}: {exc}\n")
        return 1
