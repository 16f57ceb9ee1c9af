"""The ``taskgate`` command.

``up`` starts the whole stack; ``gateway``, ``worker`` and ``flower`` run one part each;
``manage`` runs Django management commands; ``submit`` and ``watch`` follow a job in the
terminal; ``doctor`` checks Redis, the broker, the workers and the channel layer.


``token`` makes, lists and revokes API tokens; ``manage`` runs Django management commands.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.cli.client import ClientOptions

logger = logging.getLogger("taskgate")


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)


def cmd_gateway(args: argparse.Namespace) -> int:
    _setup_django()
    from gateway.server import serve

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
    from tasks.celery_app import app

    argv = [
        "worker",
        f"--loglevel={args.loglevel}",
        f"--concurrency={args.concurrency}",
        "--events",
    ]
    if args.hostname:
        argv.append(f"--hostname={args.hostname}")
    app.worker_main(argv)
    return 0


def cmd_flower(args: argparse.Namespace) -> int:
    from django.conf import settings

    from gateway.production import check_flower_auth
    from tasks.celery_app import app

    if settings.PRODUCTION:
        check_flower_auth(os.environ)

    argv = ["flower", f"--port={args.port}", f"--address={args.host}"]
    if args.url_prefix:
        argv.append(f"--url_prefix={args.url_prefix}")
    app.start(argv)
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["taskgate manage", *args.rest])
    return 0


def _client_options(args: argparse.Namespace) -> ClientOptions:
    from gateway.cli.client import ClientOptions

    return ClientOptions(
        url=args.url,
        token=args.token or None,
        session=args.session or None,
        cafile=args.cafile,
        as_json=args.json,
        timeout=args.timeout,
    )


def cmd_submit(args: argparse.Namespace) -> int:
    from gateway.cli.client import parse_params, submit

    try:
        params = parse_params(args.param)
    except ValueError as exc:
        logger.error("%s", exc)
        return 2
    return int(submit(_client_options(args), args.job, params, sys.stdout, sys.stderr))


def cmd_watch(args: argparse.Namespace) -> int:
    from gateway.cli.client import watch

    return int(watch(_client_options(args), args.job_id, sys.stdout, sys.stderr))


def cmd_doctor(args: argparse.Namespace) -> int:
    from gateway.cli.doctor import run_doctor

    return run_doctor(timeout=args.timeout)


def cmd_token(args: argparse.Namespace) -> int:
    _setup_django()
    from gateway.tokens import TokenError, create_token, list_tokens, revoke_token

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
            for row in list_tokens(args.username):
                logger.info(
                    "%s  %-7s %-20s %s %s",
                    row.prefix,
                    "revoked" if row.revoked else "live",
                    row.user.get_username(),
                    row.created.date().isoformat(),
                    row.name,
                )
    except TokenError as exc:
        logger.error("%s", exc)
        return 1
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from gateway.cli.up import run_stack

    return run_stack(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser(
        "up", help="start gateway, worker, Flower (and Redis when REDIS_URL is unset)"
    )
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--flower-port", type=int, default=5555)
    up.add_argument("--no-flower", action="store_true")
    up.add_argument("--data-dir", default="./.taskgate")
    up.add_argument(
        "--gateways", type=int, default=1, help="gateway processes sharing --port (SO_REUSEPORT)"
    )
    up.add_argument("--workers", type=int, default=1, help="Celery worker instances")
    up.add_argument("--concurrency", type=int, default=2, help="pool processes per worker")
    up.add_argument(
        "--stop-timeout", type=float, default=30.0, help="seconds running jobs get on stop"
    )
    up.add_argument("--ready-timeout", type=float, default=90.0)
    up.add_argument("--certfile", help="serve https/wss with this certificate (PEM)")
    up.add_argument("--keyfile", help="the certificate's private key (PEM)")
    up.set_defaults(func=cmd_up)

    gateway = sub.add_parser("gateway", help="serve the gateway (uvicorn) against REDIS_URL")
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, default=8000)
    gateway.add_argument("--certfile")
    gateway.add_argument("--keyfile")
    gateway.add_argument(
        "--reuse-port",
        action="store_true",
        help="share --port with other gateway processes (SO_REUSEPORT): the kernel splits sockets",
    )
    gateway.add_argument(
        "--own-port",
        type=int,
        help="also listen on this port alone, to reach this process (e.g. its /metrics)",
    )
    gateway.set_defaults(func=cmd_gateway)

    worker = sub.add_parser("worker", help="run a Celery worker against REDIS_URL")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument("--hostname")
    worker.set_defaults(func=cmd_worker)

    flower = sub.add_parser("flower", help="run Flower against REDIS_URL")
    flower.add_argument("--host", default="127.0.0.1")
    flower.add_argument("--port", type=int, default=5555)
    flower.add_argument("--url-prefix", default="")
    flower.set_defaults(func=cmd_flower)

    _add_client_commands(sub)

    doctor = sub.add_parser(
        "doctor", help="check Redis, the broker, a live worker and the channel layer"
    )
    doctor.add_argument("--timeout", type=float, default=5.0, help="seconds per check")
    doctor.set_defaults(func=cmd_doctor)

    token = sub.add_parser("token", help="API tokens for scripts: create, list, revoke")
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a token for USERNAME and print it")
    create.add_argument("username")
    create.add_argument("--name", default="", help="a label shown by `token list`")
    create.add_argument("--create-user", action="store_true", help="make the user if missing")
    create.add_argument("--staff", action="store_true", help="make the user staff (sees all)")
    revoke = actions.add_parser("revoke", help="revoke a token (whole, or its listed prefix)")
    revoke.add_argument("token")
    listing = actions.add_parser("list", help="list tokens (prefix, state, user, created)")
    listing.add_argument("username", nargs="?")
    token.set_defaults(func=cmd_token)

    manage = sub.add_parser(
        "manage", help="Django management commands (migrate, createsuperuser, ...)"
    )
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(func=cmd_manage)
    return parser


def _add_client_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exits = (
        "exit status: 0 success, 1 the job failed, 3 cancelled, 4 refused by the gateway, "
        "5 gateway unreachable (or the socket dropped twice), 6 --timeout passed"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("TASKGATE_URL", "ws://127.0.0.1:8000"),
        help="the gateway (ws:// or wss://; default $TASKGATE_URL or ws://127.0.0.1:8000)",
    )
    common.add_argument(
        "--token",
        default=os.environ.get("TASKGATE_TOKEN", ""),
        help="API token, sent as Authorization: Bearer (default $TASKGATE_TOKEN)",
    )
    common.add_argument(
        "--session",
        default=os.environ.get("TASKGATE_SESSION", ""),
        help="an existing Django session key to act as (default: a fresh anonymous one)",
    )
    common.add_argument("--cafile", help="CA bundle to verify a wss:// gateway with")
    common.add_argument("--json", action="store_true", help="print raw events, one per line")
    common.add_argument(
        "--timeout", type=float, default=None, help="give up after this many quiet seconds"
    )
    submit = sub.add_parser(
        "submit", parents=[common], help="submit a job and show its progress", epilog=exits
    )
    submit.add_argument("job", help="registered job name, e.g. demo.echo")
    submit.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter; VALUE is JSON when it parses, else a string (repeatable)",
    )
    submit.set_defaults(func=cmd_submit)
    watch = sub.add_parser(
        "watch", parents=[common], help="show the progress of a job", epilog=exits
    )
    watch.add_argument("job_id")
    watch.set_defaults(func=cmd_watch)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    args = build_parser().parse_args(argv)
    from django.core.exceptions import ImproperlyConfigured

    from gateway.env import SettingError

    try:
        return int(args.func(args))
    except (ImproperlyConfigured, SettingError) as exc:
        # A configuration mistake: say what it is, without a traceback.
        sys.stderr.write(f"taskgate {args.command}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
