"""``taskgate submit`` and ``taskgate watch``: a job's progress in the terminal.

The client speaks the v1 socket protocol (``/ws/jobs/``). It shows a progress bar on stderr
(or, with ``--json``, writes every event of the job to stdout, one JSON object a line), prints
the result to stdout and exits with a code that says how the job ended (:class:`Exit`).

Identity: ``--token``/``TASKGATE_TOKEN`` is sent as ``Authorization: Bearer``. Without one the
client opens an anonymous Django session first (``GET /``), or reuses ``--session``, so that
the one reconnect it makes after a dropped socket may watch the job again.
"""

from __future__ import annotations

import enum
import json
import ssl
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from taskgate.cli.progress_text import NoteColumn, rate_line

TERMINAL = ("success", "failure", "cancelled")
SESSION_COOKIE = "sessionid"


class Exit(enum.IntEnum):
    """Exit codes of ``submit`` and ``watch`` (2 is argparse's usage error)."""

    SUCCESS = 0
    FAILURE = 1
    CANCELLED = 3
    REFUSED = 4  # the gateway answered with an error (unknown job, invalid params, forbidden...)
    UNREACHABLE = 5  # could not connect, or the socket dropped twice
    TIMEOUT = 6  # --timeout passed without the next event


_END_EXITS = {"success": Exit.SUCCESS, "failure": Exit.FAILURE, "cancelled": Exit.CANCELLED}


class ClientError(Exception):
    """The gateway refused a request or could not be reached."""

    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code


def refusal_text(frame: dict[str, Any]) -> str:
    """An ``error`` frame in words, naming each field an ``invalid_params`` refusal names."""
    text = f"{frame.get('code')}: {frame.get('message')}"
    details = frame.get("details")
    if isinstance(details, list):
        fields = [
            f"{d.get('field')}: {d.get('message')}"
            for d in details
            if isinstance(d, dict) and d.get("field")
        ]
        if fields:
            text += " (" + "; ".join(fields) + ")"
    return text


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs; each value is JSON when it parses (``3``, ``true``, ``[1]``), else text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--param wants key=value, not {pair!r}")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


@dataclass
class ClientOptions:
    url: str
    token: str | None = None
    session: str | None = None
    cafile: str | None = None
    as_json: bool = False
    timeout: float | None = None


def _ssl_context(url: str, cafile: str | None) -> ssl.SSLContext | None:
    if urlsplit(url).scheme not in ("wss", "https"):
        return None
    return ssl.create_default_context(cafile=cafile)


def _http_url(ws_url: str, path: str) -> str:
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https", "http": "http", "https": "https"}.get(parts.scheme)
    if scheme is None:
        raise ClientError(Exit.UNREACHABLE, f"--url must be ws:// or wss://, not {ws_url!r}")
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def _socket_url(base: str) -> str:
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    parts = parts._replace(scheme=scheme)
    path = parts.path.rstrip("/")
    if not path.endswith("/ws/jobs"):
        path += "/ws/jobs"
    return urlunsplit((parts.scheme, parts.netloc, path + "/", parts.query, ""))


def anonymous_session(options: ClientOptions) -> str | None:
    """A fresh anonymous session key from the gateway's page, or None if it gives none."""
    context = _ssl_context(options.url, options.cafile)
    # _http_url gives http:// or https:// only.
    request = urllib.request.Request(_http_url(options.url, "/"))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
            headers = response.headers.get_all("Set-Cookie") or []
    except OSError as exc:
        raise ClientError(Exit.UNREACHABLE, f"cannot reach {options.url}: {exc}") from None
    for header in headers:
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if SESSION_COOKIE in cookie:
            return cookie[SESSION_COOKIE].value
    return None


@dataclass
class Watcher:
    """Follows one job over the socket, reconnecting once, until it ends."""

    options: ClientOptions
    out: TextIO
    console: Console
    job_id: str | None = None
    last_seq: int = -1
    headers: dict[str, str] = field(default_factory=dict)
    _progress: Progress | None = None
    _bar: TaskID | None = None

    def open(self) -> ClientConnection:
        try:
            return connect(
                _socket_url(self.options.url),
                additional_headers=self.headers,
                ssl=_ssl_context(self.options.url, self.options.cafile),
                open_timeout=10,
                close_timeout=5,
                max_size=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise ClientError(
                Exit.REFUSED if status in (401, 403) else Exit.UNREACHABLE,
                f"the gateway refused the connection (HTTP {status}): sign in with --token",
            ) from None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise ClientError(
                Exit.UNREACHABLE, f"cannot connect to {self.options.url}: {exc}"
            ) from None

    def request(self, ws: ClientConnection, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a request and return the frame that answers it (by ``ref``)."""
        payload["ref"] = "taskgate-cli"
        ws.send(json.dumps(payload))
        while True:
            frame = self.receive(ws)
            if frame.get("ref") != "taskgate-cli":
                continue
            if frame.get("event") == "error":
                self.emit(frame)
                raise ClientError(Exit.REFUSED, refusal_text(frame))
            return frame

    def receive(self, ws: ClientConnection) -> dict[str, Any]:
        frame = json.loads(ws.recv(timeout=self.options.timeout))
        return frame if isinstance(frame, dict) else {}

    def emit(self, frame: dict[str, Any]) -> None:
        if self.options.as_json:
            self.out.write(json.dumps(frame, separators=(",", ":")) + "\n")
            self.out.flush()

    def show(self, frame: dict[str, Any]) -> None:
        """Draw the bar from a progress event or a snapshot."""
        if self.options.as_json or self._progress is None or self._bar is None:
            return
        progress = frame.get("progress")
        stalled = (
            frame.get("stalled_since") if frame.get("event") in ("stalled", "snapshot") else None
        )
        ended = frame.get("event") in TERMINAL or frame.get("state") in TERMINAL
        note = "" if ended else rate_line(progress)
        self._progress.update(self._bar, note=note, stalled_since=None if ended else stalled)
        if isinstance(progress, dict) and progress.get("total"):
            self._progress.update(
                self._bar,
                total=float(progress["total"]),
                completed=float(progress.get("current") or 0),
                description=str(progress.get("message") or frame.get("job") or "running"),
            )
        elif frame.get("event") == "running":
            self._progress.update(self._bar, description="running")

    def follow(self, ws: ClientConnection) -> dict[str, Any]:
        """This job's frames until its end; returns the terminal event or snapshot."""
        while True:
            frame = self.receive(ws)
            if frame.get("job_id") != self.job_id:
                continue
            seq = frame.get("seq")
            if isinstance(seq, int):
                if seq <= self.last_seq and frame.get("event") != "snapshot":
                    continue  # already shown (push and fallback may both deliver it)
                self.last_seq = max(self.last_seq, seq)
            self.emit(frame)
            self.show(frame)
            if frame.get("event") in TERMINAL or (
                frame.get("event") == "snapshot" and frame.get("state") in TERMINAL
            ):
                return frame

    def run(self, first: dict[str, Any]) -> Exit:
        """Open the socket, send ``first`` (a submit or a watch) and follow the job."""
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            NoteColumn(),
            console=self.console,
            disable=self.options.as_json,
        ) as progress:
            self._progress = progress
            self._bar = progress.add_task("queued", total=None, note="", stalled_since=None)
            end = self._run(first)
            if end.get("event") == "success" or end.get("state") == "success":
                task = progress.tasks[0]
                progress.update(self._bar, completed=task.total or 1, total=task.total or 1)
        return self.finish(end)

    def _run(self, first: dict[str, Any]) -> dict[str, Any]:
        reconnected = False
        payload = first
        while True:
            ws = self.open()
            try:
                with ws:
                    answer = self.request(ws, payload)
                    if self.job_id is None:
                        self.job_id = str(answer["job_id"])
                    if answer.get("job_id") == self.job_id:
                        self.last_seq = max(self.last_seq, int(answer.get("seq", -1)))
                        self.emit(answer)
                        self.show(answer)
                        if answer.get("state") in TERMINAL:
                            return answer
                    return self.follow(ws)
            except ConnectionClosed as exc:
                if reconnected or self.job_id is None:
                    raise ClientError(
                        Exit.UNREACHABLE, f"the connection to the gateway was lost: {exc}"
                    ) from None
                reconnected = True
                self.console.print(f"connection lost ({exc}); watching {self.job_id} again")
                payload = {"op": "watch", "job_id": self.job_id, "after": self.last_seq}

    def finish(self, end: dict[str, Any]) -> Exit:
        state = str(end.get("state") or end.get("event"))
        if state == "success":
            if not self.options.as_json:
                self.out.write(json.dumps(end.get("result")) + "\n")
                self.out.flush()
        elif state == "failure":
            error = end.get("error") or {}
            self.console.print(
                f"job {self.job_id} failed: {error.get('type')}: {error.get('message')}"
            )
        elif state == "cancelled":
            self.console.print(f"job {self.job_id} was cancelled")
        return _END_EXITS.get(state, Exit.FAILURE)


def _run(
    options: ClientOptions, first: dict[str, Any], job_id: str | None, out: TextIO, err: TextIO
) -> Exit:
    console = Console(file=err, highlight=False)
    try:
        headers: dict[str, str] = {}
        if options.token:
            headers["Authorization"] = f"Bearer {options.token}"
        else:
            session = options.session or anonymous_session(options)
            if session:
                headers["Cookie"] = f"{SESSION_COOKIE}={session}"
        watcher = Watcher(options, out, console, job_id=job_id, headers=headers)
        return watcher.run(first)
    except ClientError as exc:
        console.print(str(exc))
        return exc.code
    except TimeoutError:
        console.print(f"no event from the gateway within {options.timeout}s")
        return Exit.TIMEOUT


def submit(
    options: ClientOptions, job: str, params: dict[str, Any], out: TextIO, err: TextIO
) -> Exit:
    """Submit ``job`` and follow it to its end."""
    return _run(options, {"op": "submit", "job": job, "params": params}, None, out, err)


def watch(options: ClientOptions, job_id: str, out: TextIO, err: TextIO) -> Exit:
    """Follow an existing job to its end."""
    return _run(options, {"op": "watch", "job_id": job_id}, job_id, out, err)
