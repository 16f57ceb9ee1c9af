"""WebSocket URL routes."""

from __future__ import annotations

from django.urls import path

from gateway.consumers.classic import ClassicConsumer
from gateway.consumers.jobs import JobsConsumer

websocket_urlpatterns = [
    path("ws/jobs/", JobsConsumer.as_asgi()),
    path("async_task/", ClassicConsumer.as_asgi()),
]
