"""``python manage.py adduser NAME --password PASSWORD``: a shop user (not staff)."""

from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a user who may sign in and export orders (or reset their password)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        users: Any = get_user_model().objects
        user, created = users.get_or_create(username=options["username"])
        user.set_password(options["password"])
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} {user.get_username()}")
