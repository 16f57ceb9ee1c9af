"""The one ASGI app uvicorn serves: Django for HTTP (behind the body limit), taskgate's
socket routes for WebSockets (Channels' consumers, behind one flat layer of origin, session,
user and token: taskgate.serve.websocket_app)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskgate.serve.settings")
django_asgi_app = get_asgi_application()  # sets Django up before the consumers are imported

from channels.routing import ProtocolTypeRouter  # noqa: E402

from taskgate.serve.body_limit import BodyLimit  # noqa: E402
from taskgate.serve.websocket_app import WebSocketApp  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodyLimit(django_asgi_app),  # bodies refused past the limit, before Django
        "websocket": WebSocketApp(),
    }
)
