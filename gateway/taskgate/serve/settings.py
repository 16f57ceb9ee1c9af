"""Django settings of taskgate's own project (``taskgate up``, ``gateway``, ``worker``).

Every value comes from :class:`~taskgate.config.Config`, read from the environment once here
and kept as ``TASKGATE_CONFIG`` for the whole process (see docs/settings.md). The same module
configures the gateway, the Celery worker (``taskgate.serve.celery_app`` reads the
``CELERY_*`` names below) and the channel layer both of them talk through.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

from taskgate.config import Config
from taskgate.config.redis_target import RedisTarget
from taskgate.serve.production import check_environment

# taskgate's own stack runs its own Celery app unless told otherwise (--app).
TASKGATE_CONFIG = Config.from_environ(
    {"TASKGATE_CELERY_APP": "taskgate.serve.celery_app:app", **os.environ}
)
_c = TASKGATE_CONFIG

# Refuses an unsafe production setup (TASKGATE_ENV=production; compose.yaml sets it).
check_environment(
    _c.env,
    secret_key=_c.secret_key,
    debug=_c.debug,
    allow_anonymous=_c.allow_anonymous,
    allowed_hosts=list(_c.allowed_hosts),
    secure_cookies=_c.secure_cookies,
)

DEBUG = _c.debug
# A local quick start needs no secret; a deployment sets TASKGATE_SECRET_KEY (compose does).
SECRET_KEY = _c.secret_key or "insecure-dev-" + secrets.token_hex(16)
ALLOWED_HOSTS = list(_c.allowed_hosts)
# Browser origins allowed to POST forms/API calls with the session cookie (behind HTTPS).
CSRF_TRUSTED_ORIGINS = list(_c.csrf_trusted_origins)

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "taskgate",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Under api/, every refusal Django makes itself (405, a bad Host, CSRF) is a JSON body.
    "taskgate.api.json_errors.JsonApiErrors",
    # Static files (the page's JS and CSS) with DEBUG on or off; async, so no thread hop.
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "taskgate.serve.urls"
ASGI_APPLICATION = "taskgate.serve.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# SQLite in the data dir unless DATABASE_URL names another database (postgres://...).
# Gateways and workers write to it from several processes: WAL lets readers go on while one
# writes, and IMMEDIATE transactions take the write lock up front instead of failing on it.
if _c.database_url:
    DATABASES = {
        "default": dj_database_url.parse(
            _c.database_url, conn_max_age=_c.db_conn_max_age, conn_health_checks=True
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # A database that does not answer fails a request in seconds instead of hanging it.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_c.data_dir.resolve() / "db.sqlite3"),
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_SECURE = _c.secure_cookies
CSRF_COOKIE_SECURE = _c.secure_cookies
SESSION_COOKIE_SAMESITE = "Lax"
# Sent on every response: no framing, no MIME sniffing; HSTS on HTTPS responses in production.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_HSTS_SECONDS = 31_536_000 if _c.production else 0

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
# The frontend has no build step: its modules ship in the package (taskgate/static/taskgate/,
# from frontend/src) and are served as they are, found through the app's finder, so no
# collectstatic is needed.
SERVESTATIC_USE_FINDERS = True
# In a checkout (dev.py's strict editable install) the package is a tree of links into the
# repository, static files included; an installed wheel has no links, and this stays off.
SERVESTATIC_ALLOW_UNSAFE_SYMLINKS = Path(__file__).is_symlink()
SERVESTATIC_AUTOREFRESH = DEBUG
SERVESTATIC_MAX_AGE = _c.static_max_age


def _redis(url: str) -> RedisTarget:
    """``url``'s Redis, or the master the sentinels name (TASKGATE_REDIS_SENTINELS)."""
    return RedisTarget.from_setting(url, _c.redis_sentinels, _c.redis_master)


# The pub/sub layer: one PUBLISH per event, one SUBSCRIBE per watched job and process,
# nothing sent while idle. redis-py 8's 5 s default socket timeout is harmless here because
# the layer reads its pub/sub socket with its own short timeout, but we still bound connects.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [
                _redis(_c.channel_url).channel_host(
                    socket_connect_timeout=_c.redis_connect_timeout,
                    socket_timeout=None,
                    socket_keepalive=True,
                )
            ],
            "prefix": "taskgate.",
        },
    }
}

# --- Celery (read by taskgate.serve.celery_app with namespace="CELERY"). ---
# One Redis each, or (TASKGATE_REDIS_SENTINELS) the master the sentinels name: sentinel://
# URLs with the master_name transport option, asked again after a failover.
_broker = _redis(_c.broker_url)
_results = _redis(_c.result_url)
CELERY_BROKER_URL = _broker.celery_url()
CELERY_RESULT_BACKEND = _results.celery_url()
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = _results.transport_options(_c.redis_connect_timeout)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = _c.result_expires
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = _c.acks_late
CELERY_TASK_REJECT_ON_WORKER_LOST = _c.acks_late
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A pool process keeps its database connection from job to job (Celery's Django fix-up
# otherwise closes it around every job; a job's end then opened a new one to write its
# row). A cut connection is dropped and made again by the end's write (models.py).
CELERY_DB_REUSE_MAX = 1000
CELERY_WORKER_SEND_TASK_EVENTS = True  # Flower
CELERY_TASK_SEND_SENT_EVENT = True  # Flower
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = _c.redis_connect_timeout
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = _c.redis_connect_timeout
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 30
# A submit must answer quickly when the broker is down, not retry for seconds.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0.1,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": _c.redis_connect_timeout,
    # With acks-late, a job whose worker died is delivered again after this many seconds.
    "visibility_timeout": _c.visibility_timeout,
    "unacked_restore_interval": _c.unacked_restore_interval,
    "unacked_restore_throttle": 1,
    **_broker.transport_options(_c.redis_connect_timeout),
}
# Ride out a Redis restart: storing a result retries instead of failing the job.
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 30
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 2000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {
        "redact": {"()": "taskgate.serve.log_filters.RedactSecrets"},
        "one_line": {"()": "taskgate.serve.log_filters.OneLine"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],  # API tokens in query strings (uvicorn's handshake lines)
        }
    },
    "root": {"handlers": ["console"], "level": _c.log_level},
    "loggers": {
        "django": {"level": "WARNING"},
        "channels_redis": {"level": "WARNING"},
        # Bots send other Host headers all day: one warning line each, no traceback.
        "django.security.DisallowedHost": {"level": "WARNING", "filters": ["one_line"]},
    },
}
