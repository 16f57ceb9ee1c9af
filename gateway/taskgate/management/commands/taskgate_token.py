"""``manage.py taskgate_token create|list|revoke``: API tokens, in a project that embeds taskgate.

The same as ``taskgate token`` of the standalone stack (:mod:`taskgate.cli.commands`).
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from taskgate.auth.tokens import TokenError, create_token, list_tokens, revoke_token


class Command(BaseCommand):
    help = "API tokens for scripts: create (prints it once), list, revoke."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create")
        create.add_argument("username")
        create.add_argument("--name", default="")
        create.add_argument("--create-user", action="store_true")
        create.add_argument("--staff", action="store_true")
        revoke = actions.add_parser("revoke")
        revoke.add_argument("token")
        listing = actions.add_parser("list")
        listing.add_argument("username", nargs="?")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "create":
                self.stdout.write(
                    create_token(
                        options["username"],
                        options["name"],
                        create_user=options["create_user"],
                        staff=options["staff"],
                    )
                )
            elif options["action"] == "revoke":
                self.stdout.write(f"revoked {revoke_token(options['token'])} token(s)")
            else:
                for row in list_tokens(options["username"]):
                    state = "revoked" if row.revoked else "live"
                    created = row.created.date().isoformat()
                    user = row.user.get_username()
                    self.stdout.write(f"{row.prefix}  {state:<7} {user:<20} {created} {row.name}")
        except TokenError as exc:
            raise CommandError(str(exc)) from None
