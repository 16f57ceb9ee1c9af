"""celery-progress as its README sets it up: its app, channels, channels-redis' layer."""

import os

REDIS_URL = os.environ["PEER_REDIS_URL"]
SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "channels", "celery_progress"]
ROOT_URLCONF = "cp_project.urls"
ASGI_APPLICATION = "cp_project.asgi.application"
DATABASES: dict[str, object] = {}
USE_TZ = True
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # No socket timeout: redis-py 8's default (5 s) kills channels-redis' idle
        # consumers, whose BZPOPMIN waits 5 s (docs/benchmarks.md); a user who hit it does this.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
    }
}
