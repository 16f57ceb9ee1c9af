"""HTTP to Django (the polling view), WebSockets to celery-progress's consumer."""

import os
from importlib import import_module

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cp_project.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

http = get_asgi_application()

from celery_progress.websockets import routing  # type: ignore[import-not-found]  # noqa: E402

import_module("cp_project.celery_app")  # AsyncResult's default app

application = ProtocolTypeRouter({"http": http, "websocket": URLRouter(routing.urlpatterns)})
