"""Django settings for taskgate. Every value comes from the environment with a typed default.

The same module configures the gateway, the Celery worker (``tasks.celery_app`` reads the
``CELERY_*`` names below) and the channel layer both of them talk through.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url

from gateway.env import env_bool, env_float, env_int, env_list, env_str
from gateway.production import check_environment

BASE_DIR = Path(__file__).resolve().parent.parent
FRONTEND_DIR = BASE_DIR / "frontend"
DATA_DIR = Path(env_str("TASKGATE_DATA_DIR", str(BASE_DIR / ".taskgate"))).resolve()

# "production" (compose.yaml sets it) turns on the safe defaults and refuses to start with an
# unsafe configuration; see gateway/production.py.
TASKGATE_ENV = env_str("TASKGATE_ENV", "development").strip().lower()
PRODUCTION = TASKGATE_ENV == "production"

DEBUG = env_bool("TASKGATE_DEBUG", False)
# A local quick start needs no secret; a deployment sets TASKGATE_SECRET_KEY (compose does).
SECRET_KEY = env_str("TASKGATE_SECRET_KEY", "") or "insecure-dev-" + secrets.token_hex(16)
ALLOWED_HOSTS = env_list("TASKGATE_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
# Browser origins allowed to POST forms/API calls with the session cookie (behind HTTPS).
CSRF_TRUSTED_ORIGINS = env_list("TASKGATE_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "gateway",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the page's JS and CSS) with DEBUG on or off; async, so no thread hop.
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "gateway.urls"
ASGI_APPLICATION = "gateway.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [FRONTEND_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# SQLite in the data dir unless DATABASE_URL names another database (postgres://...).
# Gateways and workers write to it from several processes: WAL lets readers go on while one
# writes, and IMMEDIATE transactions take the write lock up front instead of failing on it.
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("TASKGATE_DB_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "db.sqlite3"),
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_SECURE = env_bool("TASKGATE_SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_SAMESITE = "Lax"

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
# The frontend has no build step: its modules are served as they are in the repository,
# found through the finders, so no collectstatic is needed.
STATICFILES_DIRS = [("taskgate", FRONTEND_DIR / "src")]
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = DEBUG
SERVESTATIC_MAX_AGE = env_int("TASKGATE_STATIC_MAX_AGE", 0 if DEBUG else 60)

# --- Redis: one URL serves broker, result backend and channel layer unless split. ---
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
TASKGATE_BROKER_URL = env_str("TASKGATE_BROKER_URL", REDIS_URL)
TASKGATE_RESULT_URL = env_str("TASKGATE_RESULT_URL", REDIS_URL)
TASKGATE_CHANNEL_URL = env_str("TASKGATE_CHANNEL_URL", REDIS_URL)

# The pub/sub layer: one PUBLISH per event, one SUBSCRIBE per watched job and process,
# nothing sent while idle. redis-py 8's 5 s default socket timeout is harmless here because
# the layer reads its pub/sub socket with its own short timeout, but we still bound connects.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": TASKGATE_CHANNEL_URL,
                    "socket_connect_timeout": env_float("TASKGATE_REDIS_CONNECT_TIMEOUT", 2.0),
                    "socket_timeout": None,
                    "socket_keepalive": True,
                }
            ],
            "prefix": "taskgate.",
        },
    }
}

# --- Celery (read by tasks.celery_app with namespace="CELERY"). ---
CELERY_BROKER_URL = TASKGATE_BROKER_URL
CELERY_RESULT_BACKEND = TASKGATE_RESULT_URL
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = env_int("TASKGATE_RESULT_EXPIRES", 86400)
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = env_bool("TASKGATE_ACKS_LATE", False)
CELERY_TASK_REJECT_ON_WORKER_LOST = CELERY_TASK_ACKS_LATE
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_SEND_TASK_EVENTS = True  # Flower
CELERY_TASK_SEND_SENT_EVENT = True  # Flower
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("TASKGATE_REDIS_CONNECT_TIMEOUT", 2.0)
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = env_float("TASKGATE_REDIS_CONNECT_TIMEOUT", 2.0)
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 30
# A submit must answer quickly when the broker is down, not retry for seconds.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0.1,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": env_float("TASKGATE_REDIS_CONNECT_TIMEOUT", 2.0),
    # With acks-late, a job whose worker died is delivered again after this many seconds.
    "visibility_timeout": env_int("TASKGATE_VISIBILITY_TIMEOUT", 3600),
    "unacked_restore_interval": env_float("TASKGATE_UNACKED_RESTORE_INTERVAL", 10.0),
    "unacked_restore_throttle": 1,
}
# Ride out a Redis restart: storing a result retries instead of failing the job.
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 30
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 2000

# --- taskgate ---
TASKGATE_ALLOW_ANONYMOUS = env_bool("TASKGATE_ALLOW_ANONYMOUS", False)
TASKGATE_FLOWER_URL = env_str("TASKGATE_FLOWER_URL", "")
# Progress calls closer together than this are coalesced; the last one always gets through.
TASKGATE_PROGRESS_MIN_INTERVAL = env_float("TASKGATE_PROGRESS_MIN_INTERVAL", 0.05)
# The per-process fallback poll: its period normally, and while the channel layer is down.
TASKGATE_FALLBACK_INTERVAL = env_float("TASKGATE_FALLBACK_INTERVAL", 2.0)
TASKGATE_FALLBACK_DEGRADED_INTERVAL = env_float("TASKGATE_FALLBACK_DEGRADED_INTERVAL", 0.5)
TASKGATE_LAYER_PROBE_INTERVAL = env_float("TASKGATE_LAYER_PROBE_INTERVAL", 10.0)
# A running job whose worker stops renewing its lease for this long is "lost".
TASKGATE_LEASE_SECONDS = env_float("TASKGATE_LEASE_SECONDS", 10.0)
# Socket limits.
TASKGATE_MAX_FRAME_BYTES = env_int("TASKGATE_MAX_FRAME_BYTES", 64 * 1024)
TASKGATE_MAX_PARAMS_BYTES = env_int("TASKGATE_MAX_PARAMS_BYTES", 16 * 1024)
TASKGATE_MAX_WATCHES_PER_SOCKET = env_int("TASKGATE_MAX_WATCHES_PER_SOCKET", 100)
TASKGATE_SUBMIT_RATE = env_float("TASKGATE_SUBMIT_RATE", 10.0)
TASKGATE_SUBMIT_BURST = env_int("TASKGATE_SUBMIT_BURST", 20)
# Submits per principal (user, session or socket), across sockets, HTTP and processes.
TASKGATE_PRINCIPAL_SUBMIT_RATE = env_float("TASKGATE_PRINCIPAL_SUBMIT_RATE", 5.0)
TASKGATE_PRINCIPAL_SUBMIT_BURST = env_int("TASKGATE_PRINCIPAL_SUBMIT_BURST", 50)
# HTTP API: list page size cap, and the SSE keep-alive comment period.
TASKGATE_SSE_KEEPALIVE = env_float("TASKGATE_SSE_KEEPALIVE", 15.0)
TASKGATE_OUTBOX_SIZE = env_int("TASKGATE_OUTBOX_SIZE", 1000)
# Connections per gateway process to the result backend's Redis; more requests wait.
TASKGATE_REDIS_MAX_CONNECTIONS = env_int("TASKGATE_REDIS_MAX_CONNECTIONS", 50)
TASKGATE_SEND_TIMEOUT = env_float("TASKGATE_SEND_TIMEOUT", 10.0)
# Allocations between young garbage collections in a gateway process (CPython's default: 700).
TASKGATE_GC_YOUNG_THRESHOLD = env_int("TASKGATE_GC_YOUNG_THRESHOLD", 20_000)
TASKGATE_DISPATCH_TIMEOUT = env_float("TASKGATE_DISPATCH_TIMEOUT", 5.0)
# Files jobs produce (reports): shared by workers and gateway; removed after this many
# seconds (by default when the job's state expires, since it can no longer be downloaded).
TASKGATE_ARTIFACTS_DIR = Path(
    env_str("TASKGATE_ARTIFACTS_DIR", str(DATA_DIR / "artifacts"))
).resolve()
TASKGATE_ARTIFACT_MAX_AGE = env_float("TASKGATE_ARTIFACT_MAX_AGE", float(CELERY_RESULT_EXPIRES))

check_environment(
    TASKGATE_ENV,
    secret_key=env_str("TASKGATE_SECRET_KEY", ""),
    debug=DEBUG,
    allow_anonymous=TASKGATE_ALLOW_ANONYMOUS,
    allowed_hosts=ALLOWED_HOSTS,
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("TASKGATE_LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"level": "WARNING"},
        "channels_redis": {"level": "WARNING"},
    },
}
