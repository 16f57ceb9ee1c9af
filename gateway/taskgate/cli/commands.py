"""What each ``taskgate`` subcommand does; heavy imports wait until a command runs."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

from taskgate.cli import stack_file
from taskgate.config import get_config

logger = logging.getLogger("taskgate")


if TYPE_CHECKING:
    from taskgate.cli.client import ClientOptions


def _use_code_options(args: argparse.Namespace) -> None:
    """``--app`` and ``--jobs`` become the settings of this process (and its children)."""
    if getattr(args, "app", None):
        os.environ["TASKGATE_CELERY_APP"] = args.app
    if getattr(args, "jobs", None):
        os.environ["TASKGATE_JOB_MODULES"] = args.jobs


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskgate.serve.settings")
    import django

    django.setup()
    get_config().data_dir.mkdir(parents=True, exist_ok=True)


def cmd_gateway(args: argparse.Namespace) -> int:
    _use_code_options(args)
    _setup_django()
    from taskgate.serve.server import serve

    serve(
        args.host,
        args.port,
        certfile=args.certfile,
        keyfile=args.keyfile,
        reuse_port=args.reuse_port,
        own_port=args.own_port,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    _use_code_options(args)
    _setup_django()
    from taskgate.config.celery_app import celery_app

    argv = [
        "worker",
        f"--loglevel={args.loglevel}",
        f"--concurrency={args.concurrency}",
        "--events",
    ]
    if args.hostname:
        argv.append(f"--hostname={args.hostname}")
    celery_app().worker_main(argv)
    return 0


def cmd_flower(args: argparse.Namespace) -> int:
    _setup_django()
    from taskgate.config.celery_app import celery_app
    from taskgate.serve.production import check_flower_auth

    if get_config().production:
        check_flower_auth(os.environ)

    argv = ["flower", f"--port={args.port}", f"--address={args.host}"]
    if args.url_prefix:
        argv.append(f"--url_prefix={args.url_prefix}")
    celery_app().start(argv)
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    stack_file.use_for_redis()
    _setup_django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["taskgate manage", *args.rest])
    return 0


def _client_options(args: argparse.Namespace) -> ClientOptions:
    from taskgate.cli.client import ClientOptions

    return ClientOptions(
        url=args.url,
        token=args.token or None,
        session=args.session or None,
        cafile=args.cafile,
        as_json=args.json,
        timeout=args.timeout,
    )


def cmd_submit(args: argparse.Namespace) -> int:
    from taskgate.cli.client import parse_params, submit

    try:
        params = parse_params(args.param)
    except ValueError as exc:
        logger.error("%s", exc)
        return 2
    return int(submit(_client_options(args), args.job, params, sys.stdout, sys.stderr))


def cmd_watch(args: argparse.Namespace) -> int:
    from taskgate.cli.client import watch

    return int(watch(_client_options(args), args.job_id, sys.stdout, sys.stderr))


def cmd_doctor(args: argparse.Namespace) -> int:
    from taskgate.cli.doctor import run_doctor

    stack_file.use_for_redis()
    return run_doctor(timeout=args.timeout)


def cmd_token(args: argparse.Namespace) -> int:
    stack_file.use_for_redis()
    _setup_django()
    from taskgate.auth.tokens import TokenError, create_token, list_tokens, revoke_token

    try:
        if args.action == "create":
            secret = create_token(
                args.username, args.name, create_user=args.create_user, staff=args.staff
            )
            sys.stdout.write(secret + "\n")  # the only time the token is shown
        elif args.action == "revoke":
            count = revoke_token(args.token)
            logger.info("revoked %d token(s)", count)
        else:
            # A table on stdout, one token a line, for people and for pipes alike.
            for row in list_tokens(args.username):
                state = "revoked" if row.revoked else "live"
                created = row.created.date().isoformat()
                user = row.user.get_username()
                sys.stdout.write(f"{row.prefix}  {state:<7} {user:<20} {created} {row.name}\n")
    except TokenError as exc:
        logger.error("%s", exc)
        return 1
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from taskgate.cli.up import run_stack

    return run_stack(args)
