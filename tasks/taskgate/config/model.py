"""Every setting taskgate reads, in one typed object: :class:`Config`.

Each value is looked up once, under its name, in a source (the project's Django settings,
then the environment; or the environment alone, for taskgate's own Django settings module),
cast to its type and checked, with an error that names it. docs/settings.md is generated
from the declarations below (``python -m taskgate.config``) and a test keeps it in step.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from taskgate.config.fields import SettingError, cast, setting, spec_of

Environment = Literal["development", "production"]

# Looks a setting up by name; None: not set there.
Lookup = Callable[[str], object | None]


@dataclasses.dataclass(frozen=True, slots=True)
class Config:
    # --- where things are -----------------------------------------------------------------
    redis_url: str = setting(
        "REDIS_URL",
        "redis://127.0.0.1:6379/0",
        "broker, result backend and channel layer (`taskgate up` without it: an embedded Redis)",
    )
    broker_url: str = setting(
        "TASKGATE_BROKER_URL", lambda v: v["redis_url"], "the broker", default_text="`REDIS_URL`"
    )
    result_url: str = setting(
        "TASKGATE_RESULT_URL",
        lambda v: v["redis_url"],
        "the result backend (states, seq counters, leases, records)",
        default_text="`REDIS_URL`",
    )
    channel_url: str = setting(
        "TASKGATE_CHANNEL_URL",
        lambda v: v["redis_url"],
        "the channel layer",
        default_text="`REDIS_URL`",
    )
    redis_connect_timeout: float = setting(
        "TASKGATE_REDIS_CONNECT_TIMEOUT", 2.0, "seconds to connect to Redis", minimum=0.1
    )
    redis_max_connections: int = setting(
        "TASKGATE_REDIS_MAX_CONNECTIONS",
        50,
        "Redis connections per gateway process for reads and records; more requests wait",
        minimum=1,
    )
    redis_sentinels: tuple[str, ...] = setting(
        "TASKGATE_REDIS_SENTINELS",
        (),
        "`host:port` of Redis Sentinels: broker, results, channel layer and taskgate's own "
        "clients then find the master through them (database and password still from the URLs)",
    )
    redis_master: str = setting(
        "TASKGATE_REDIS_MASTER",
        "",
        "the name of the master the sentinels watch (with `TASKGATE_REDIS_SENTINELS`)",
    )
    database_url: str = setting(
        "DATABASE_URL",
        "",
        "job rows, users, tokens, sessions (`postgres://...` needs `taskgate[postgres]`); "
        "empty: SQLite in the data dir",
    )
    db_conn_max_age: int = setting(
        "TASKGATE_DB_CONN_MAX_AGE", 60, "seconds a database connection is kept", minimum=0
    )
    data_dir: Path = setting(
        "TASKGATE_DATA_DIR", Path(".taskgate"), "SQLite database, secret key, artifacts"
    )
    artifacts_dir: Path = setting(
        "TASKGATE_ARTIFACTS_DIR",
        lambda v: v["data_dir"] / "artifacts",
        "where jobs write files (shared by workers and gateways)",
        default_text="`<data dir>/artifacts`",
    )
    celery_app: str = setting(
        "TASKGATE_CELERY_APP",
        "",
        "the Celery app (`module:attribute`); empty: the project's current app "
        "(taskgate's own stack: `taskgate.serve.celery_app:app`)",
    )
    job_modules: tuple[str, ...] = setting(
        "TASKGATE_JOB_MODULES",
        (),
        "modules imported for their `@taskgate.job` declarations (`taskgate up` adds the "
        "shipped examples, `taskgate.examples`, unless `--no-examples`)",
    )
    flower_url: str = setting("TASKGATE_FLOWER_URL", "", "the page links to Flower when set")
    socket_path: str = setting(
        "TASKGATE_SOCKET_PATH",
        "/ws/jobs/",
        "where browsers find the v1 socket (the path the project's Channels router gives it)",
    )
    # --- the deployment -------------------------------------------------------------------
    env: Environment = setting(
        "TASKGATE_ENV",
        "development",
        "`production` refuses to start with an unsafe configuration (docs/deployment.md)",
    )
    debug: bool = setting("TASKGATE_DEBUG", False, "Django's debug mode")
    secret_key: str = setting(
        "TASKGATE_SECRET_KEY",
        "",
        "Django's secret key; empty: a random one per process (`up` keeps one in the data dir)",
    )
    allowed_hosts: tuple[str, ...] = setting(
        "TASKGATE_ALLOWED_HOSTS",
        ("localhost", "127.0.0.1", "[::1]"),
        "host names served, and browser origins the socket accepts",
    )
    allowed_origins: tuple[str, ...] = setting(
        "TASKGATE_ALLOWED_ORIGINS",
        (),
        "browser origins (`scheme://host[:port]`) allowed to open the socket besides the "
        "page's own (its scheme, and a host of `TASKGATE_ALLOWED_HOSTS`, with its port)",
    )
    csrf_trusted_origins: tuple[str, ...] = setting(
        "TASKGATE_CSRF_TRUSTED_ORIGINS", (), "`https://...` origins trusted for POSTs"
    )
    secure_cookies: bool = setting(
        "TASKGATE_SECURE_COOKIES",
        lambda v: v["env"] == "production",
        "session and CSRF cookies only over HTTPS",
        default_text="on in production",
    )
    allow_anonymous: bool = setting(
        "TASKGATE_ALLOW_ANONYMOUS",
        False,
        "anonymous use, owned by the Django session (`taskgate up` turns it on)",
    )
    static_max_age: int = setting(
        "TASKGATE_STATIC_MAX_AGE",
        lambda v: 0 if v["debug"] else 60,
        "`Cache-Control` seconds of the page's JS and CSS",
        default_text="60 (0 with debug)",
        minimum=0,
    )
    log_level: str = setting("TASKGATE_LOG_LEVEL", "INFO", "the root logger's level")
    metrics_token: str = setting(
        "TASKGATE_METRICS_TOKEN",
        "",
        "`GET /metrics` only with `Authorization: Bearer <this>`; empty: open in development, "
        "refused in production",
    )
    # --- jobs and results -----------------------------------------------------------------
    result_expires: int = setting(
        "TASKGATE_RESULT_EXPIRES",
        86400,
        "seconds states (and watchability) last",
        minimum=1,
    )
    artifact_max_age: float = setting(
        "TASKGATE_ARTIFACT_MAX_AGE",
        lambda v: float(v["result_expires"]),
        "seconds before an artifact is swept",
        default_text="`TASKGATE_RESULT_EXPIRES`",
        minimum=0,
    )
    acks_late: bool = setting(
        "TASKGATE_ACKS_LATE",
        False,
        "re-queue the jobs of a dead worker (announced `retrying`) instead of failing them",
    )
    visibility_timeout: int = setting(
        "TASKGATE_VISIBILITY_TIMEOUT",
        lambda v: 3600 if v["acks_late"] else 60,
        "seconds before the broker hands an unacknowledged job to another worker: jobs a "
        "dead worker had taken but not started (with acks-late: any of its jobs, so keep it "
        "above your longest job)",
        default_text="60 (acks-late: 3600)",
        minimum=1,
    )
    unacked_restore_interval: float = setting(
        "TASKGATE_UNACKED_RESTORE_INTERVAL",
        10.0,
        "with acks-late, how often a worker restores unacknowledged jobs (seconds)",
        minimum=0.1,
    )
    lease_seconds: float = setting(
        "TASKGATE_LEASE_SECONDS",
        10.0,
        "a running job whose worker stops renewing its lease this long ends as `lost`",
        minimum=0.5,
    )
    progress_min_interval: float = setting(
        "TASKGATE_PROGRESS_MIN_INTERVAL",
        0.05,
        "progress calls closer than this are coalesced (the last always gets through)",
        minimum=0,
    )
    stall_floor: float = setting(
        "TASKGATE_STALL_FLOOR",
        30.0,
        "a running job (lease renewed) that reported progress but none for longer than "
        "this, and than `TASKGATE_STALL_MULTIPLE` times its usual interval, is `stalled`",
        minimum=0.1,
    )
    stall_multiple: float = setting(
        "TASKGATE_STALL_MULTIPLE",
        10.0,
        "how many of a job's usual intervals between progress reports make it `stalled`",
        minimum=1,
    )
    # --- delivery ------------------------------------------------------------------------
    fallback_interval: float = setting(
        "TASKGATE_FALLBACK_INTERVAL",
        2.0,
        "seconds between rounds of the fallback poll",
        minimum=0.05,
    )
    fallback_degraded_interval: float = setting(
        "TASKGATE_FALLBACK_DEGRADED_INTERVAL",
        0.5,
        "the same, while the channel layer is unreachable",
        minimum=0.05,
    )
    layer_probe_interval: float = setting(
        "TASKGATE_LAYER_PROBE_INTERVAL",
        10.0,
        "seconds between round trips that check the channel layer",
        minimum=0.1,
    )
    outbox_size: int = setting(
        "TASKGATE_OUTBOX_SIZE",
        1000,
        "frames a client may fall behind before it is cut off (4008)",
        minimum=1,
    )
    send_timeout: float = setting(
        "TASKGATE_SEND_TIMEOUT", 10.0, "seconds a client may stop reading before it is cut off"
    )
    sse_keepalive: float = setting(
        "TASKGATE_SSE_KEEPALIVE", 15.0, "seconds between comment lines on a quiet event stream"
    )
    direct_push: bool = setting(
        "TASKGATE_DIRECT_PUSH",
        True,
        "the worker's store script also publishes each running/progress event, in the same "
        "round trip, when the channel layer is a pub/sub layer on the result backend's Redis "
        "(off: a publisher thread sends it after the store)",
    )
    own_subscriber: bool = setting(
        "TASKGATE_OWN_SUBSCRIBER",
        True,
        "the gateway reads pushed events on a pub/sub connection of its own when the channel "
        "layer is a plain pub/sub layer on one Redis (off: through the layer's receive)",
    )
    bench_stages_dir: str = setting(
        "TASKGATE_BENCH_STAGES_DIR",
        "",
        "benchmarks only: each process logs here when each event passed each stage "
        "(docs/benchmarks.md, the delay split); empty: off",
    )
    gc_young_threshold: int = setting(
        "TASKGATE_GC_YOUNG_THRESHOLD",
        20_000,
        "allocations between young garbage collections in a gateway (docs/benchmarks.md)",
        minimum=100,
    )
    # --- limits --------------------------------------------------------------------------
    max_frame_bytes: int = setting(
        "TASKGATE_MAX_FRAME_BYTES", 65536, "larger frames and bodies: `too_large`", minimum=256
    )
    ws_max_size: int = setting(
        "TASKGATE_WS_MAX_SIZE",
        lambda v: max(1 << 20, 4 * v["max_frame_bytes"]),
        "bytes of a WebSocket message the server reads at all (then closes 1009)",
        default_text="1 MiB or 4 frames, the larger",
        minimum=256,
    )
    body_timeout: float = setting(
        "TASKGATE_BODY_TIMEOUT",
        10.0,
        "seconds a request body may take to arrive (then `408`)",
        minimum=0.1,
    )
    header_timeout: float = setting(
        "TASKGATE_HEADER_TIMEOUT",
        10.0,
        "seconds a connection may take to send a request's headers, a WebSocket handshake's "
        "included (then it is closed)",
        minimum=0.1,
    )
    max_connections: int = setting(
        "TASKGATE_MAX_CONNECTIONS",
        0,
        "open connections per gateway process; more are answered `503` (0: the file "
        "descriptor limit, raised to its hard limit, less 100 for Redis and the database)",
        minimum=0,
    )
    max_connections_per_address: int = setting(
        "TASKGATE_MAX_CONNECTIONS_PER_ADDRESS",
        1200,
        "open connections of one client address per gateway process; more are answered `429` "
        "(trusted proxies, `FORWARDED_ALLOW_IPS`, are not counted: their clients are, below)",
        minimum=1,
    )
    max_streams_per_principal: int = setting(
        "TASKGATE_MAX_STREAMS_PER_PRINCIPAL",
        100,
        "open sockets and event streams of one user, token user or session per gateway "
        "process; a socket beyond is closed 1013, a stream refused `429`",
        minimum=1,
    )
    max_streams_per_address: int = setting(
        "TASKGATE_MAX_STREAMS_PER_ADDRESS",
        1000,
        "open sockets and event streams of one client address per gateway process",
        minimum=1,
    )
    max_params_bytes: int = setting(
        "TASKGATE_MAX_PARAMS_BYTES", 16384, "larger `params`: `invalid_params`", minimum=2
    )
    max_watches_per_socket: int = setting(
        "TASKGATE_MAX_WATCHES_PER_SOCKET", 100, "`limit_exceeded` beyond", minimum=1
    )
    submit_rate: float = setting(
        "TASKGATE_SUBMIT_RATE", 10.0, "submits per second on one socket", minimum=0
    )
    submit_burst: int = setting("TASKGATE_SUBMIT_BURST", 20, "burst on one socket", minimum=1)
    principal_submit_rate: float = setting(
        "TASKGATE_PRINCIPAL_SUBMIT_RATE",
        5.0,
        "submits per second per user or session, across sockets, HTTP and processes",
        minimum=0,
    )
    principal_submit_burst: int = setting(
        "TASKGATE_PRINCIPAL_SUBMIT_BURST", 50, "their burst", minimum=1
    )
    anonymous_submit_rate: float = setting(
        "TASKGATE_ANONYMOUS_SUBMIT_RATE",
        1.0,
        "anonymous submits per second per client address (whatever its sessions and sockets)",
        minimum=0,
    )
    anonymous_submit_burst: int = setting(
        "TASKGATE_ANONYMOUS_SUBMIT_BURST", 20, "their burst", minimum=1
    )
    anonymous_session_rate: float = setting(
        "TASKGATE_ANONYMOUS_SESSION_RATE",
        0.2,
        "new anonymous sessions per second per client address (each is a database row)",
        minimum=0,
    )
    anonymous_session_burst: int = setting(
        "TASKGATE_ANONYMOUS_SESSION_BURST", 20, "their burst", minimum=1
    )
    # --- the terminal client (taskgate submit / watch) --------------------------------------
    client_url: str = setting(
        "TASKGATE_URL", "ws://127.0.0.1:8000", "the gateway `submit` and `watch` talk to"
    )
    client_token: str = setting("TASKGATE_TOKEN", "", "their API token")
    client_session: str = setting("TASKGATE_SESSION", "", "a Django session key to act as")

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def load(cls, lookup: Lookup) -> Config:
        """Read every setting from ``lookup`` (a default where it has none), cast and check."""
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            spec = spec_of(field)
            raw = lookup(spec.name)
            value = (
                spec.resolve_default(values)
                if raw is None
                else cast(spec.name, hints[field.name], raw)
            )
            if spec.minimum is not None and value < spec.minimum:
                raise SettingError(f"{spec.name} must be at least {spec.minimum}, not {value!r}")
            values[field.name] = value
        return cls(**values)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Config:
        """The settings of the environment alone (an empty value counts as unset)."""
        return cls.load(lambda name: environ.get(name) or None)
