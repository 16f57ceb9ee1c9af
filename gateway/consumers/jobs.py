"""``/ws/jobs/``: the v1 multiplexed protocol (many jobs over one socket)."""

from __future__ import annotations

import logging

from django.conf import settings

from gateway.consumers.base import GatewayConsumer
from gateway.protocol import (
    Cancel,
    ErrorCode,
    Ping,
    ProtocolError,
    Request,
    Submit,
    Unwatch,
    Watch,
    decode_frame,
    extract_ref,
    parse_request,
)
from gateway.ratelimit import TokenBucket
from tasks.state import now_ts

logger = logging.getLogger(__name__)


class JobsConsumer(GatewayConsumer):
    async def connect(self) -> None:
        self.submits = TokenBucket(
            float(settings.TASKGATE_SUBMIT_RATE), int(settings.TASKGATE_SUBMIT_BURST)
        )
        await super().connect()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        ref: str | None = None
        try:
            payload = decode_frame(self.check_frame(text_data, bytes_data))
            ref = extract_ref(payload)
            await self.handle(parse_request(payload))
        except ProtocolError as error:
            self.connection.reply(error.event(ref))
            if error.code is ErrorCode.TOO_LARGE:
                self.too_large()
        except Exception:
            # A bug must cost one request, never the socket.
            logger.exception("request failed")
            self.connection.reply(
                ProtocolError(
                    ErrorCode.UNAVAILABLE, "the server could not handle the request"
                ).event(ref)
            )

    async def handle(self, request: Request) -> None:
        match request:
            case Ping(ref=ref):
                self.connection.reply({"event": "pong", "ts": now_ts(), "ref": ref})
            case Submit(job=job, params=params, ref=ref):
                retry_after = self.submits.take()
                if retry_after > 0:
                    raise ProtocolError(
                        ErrorCode.RATE_LIMITED,
                        "too many submits on this socket",
                        retry_after=round(retry_after, 3),
                    )
                await self.service.submit(job, params, ref)
            case Watch(job_id=job_id, after=after, ref=ref):
                await self.service.watch(job_id, after, ref)
            case Unwatch(job_id=job_id):
                await self.service.unwatch(job_id)
            case Cancel(job_id=job_id, ref=ref):
                await self.service.cancel(job_id, ref)
