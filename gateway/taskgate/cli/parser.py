"""The ``taskgate`` command.

``up`` starts the whole stack; ``gateway``, ``worker`` and ``flower`` run one part each;
``manage`` runs Django management commands; ``submit`` and ``watch`` follow a job in the
terminal; ``doctor`` checks Redis, the broker, the workers and the channel layer;
``token`` makes, lists and revokes API tokens.
"""

from __future__ import annotations

import argparse
import os

from taskgate.cli import stack_file
from taskgate.cli.commands import (
    cmd_doctor,
    cmd_flower,
    cmd_gateway,
    cmd_manage,
    cmd_submit,
    cmd_token,
    cmd_up,
    cmd_watch,
    cmd_worker,
)
from taskgate.config import Config


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
    up.add_argument(
        "--restart-limit",
        type=int,
        default=5,
        help="a part that dies this many times within --restart-window stops the stack",
    )
    up.add_argument("--restart-window", type=float, default=60.0, help="seconds (see above)")
    up.add_argument("--certfile", help="serve https/wss with this certificate (PEM)")
    up.add_argument("--keyfile", help="the certificate's private key (PEM)")
    up.add_argument(
        "--no-examples",
        action="store_true",
        help="do not load the shipped example jobs (taskgate.examples)",
    )
    _add_code_options(up)
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
    _add_code_options(gateway)
    gateway.set_defaults(func=cmd_gateway)

    worker = sub.add_parser("worker", help="run a Celery worker against REDIS_URL")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument("--hostname")
    _add_code_options(worker)
    worker.set_defaults(func=cmd_worker)

    flower = sub.add_parser("flower", help="run Flower against REDIS_URL")
    flower.add_argument("--host", default="127.0.0.1")
    flower.add_argument("--port", type=int, default=5555)
    flower.add_argument("--url-prefix", default="")
    flower.set_defaults(func=cmd_flower)

    _add_client_commands(sub, Config.from_environ(os.environ))

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


def _add_code_options(command: argparse.ArgumentParser) -> None:
    """A team's own code, without editing taskgate: its Celery app and its job modules."""
    command.add_argument(
        "--app",
        metavar="MODULE:ATTR",
        help="the Celery app to use (default $TASKGATE_CELERY_APP, else taskgate's own)",
    )
    command.add_argument(
        "--jobs",
        metavar="MODULE[,MODULE...]",
        help="modules imported for their @taskgate.job declarations "
        "(default $TASKGATE_JOB_MODULES)",
    )


def _add_client_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], client: Config
) -> None:
    exits = (
        "exit status: 0 success, 1 the job failed, 3 cancelled, 4 refused by the gateway, "
        "5 gateway unreachable (or the socket dropped twice), 6 --timeout passed"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=stack_file.default_url(client.client_url),
        help="the gateway (ws:// or wss://; default $TASKGATE_URL, else the stack `taskgate up` "
        "runs on this data dir, else ws://127.0.0.1:8000)",
    )
    common.add_argument(
        "--token",
        default=client.client_token,
        help="API token, sent as Authorization: Bearer (default $TASKGATE_TOKEN)",
    )
    common.add_argument(
        "--session",
        default=client.client_session,
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
