"""``taskgate manage cleanup_artifacts``: remove job files older than the configured age."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from taskgate.worker.artifacts import sweep


class Command(BaseCommand):
    help = "Remove artifacts older than TASKGATE_ARTIFACT_MAX_AGE seconds (or --max-age)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--max-age", type=float, default=None, help="seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        removed = sweep(options["max_age"])
        self.stdout.write(f"removed {len(removed)} expired artifact directories")
