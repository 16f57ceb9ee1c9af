"""``/ws/jobs/``: the v1 multiplexed protocol (many jobs over one socket)."""

from __future__ import annotations

import logging

from taskgate.config import get_config
from taskgate.contract.wire import now_ts
from taskgate.counters import count_refusal
from taskgate.jobs.rate_limit import TokenBucket
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError
from taskgate.protocol.requests import (
    Cancel,
    Ping,
    Request,
    Submit,
    Unwatch,
    Watch,
    decode_frame,
    extract_ref,
    parse_request,
)
from taskgate.sockets.consumer import SocketConsumer

logger = logging.getLogger(__name__)


class JobsConsumer(SocketConsumer):
    async def connect(self) -> None:
        self.submits = TokenBucket(get_config().submit_rate, get_config().submit_burst)
        await super().connect()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        ref: str | None = None
        try:
            payload = decode_frame(self.check_frame(text_data, bytes_data))
            ref = extract_ref(payload)
            await self.handle(parse_request(payload))
        except ProtocolError as error:
            self._refuse(error, ref)
            if error.code is ErrorCode.TOO_LARGE:
                self.too_large()
        except Exception:
            # A bug must cost one request, never the socket.
            logger.exception("request failed")
            self._refuse(
                ProtocolError(ErrorCode.UNAVAILABLE, "the server could not handle the request"),
                ref,
            )

    def _refuse(self, error: ProtocolError, ref: str | None) -> None:
        count_refusal(error.code)
        self.watcher.reply(error.event(ref))

    async def handle(self, request: Request) -> None:
        match request:
            case Ping(ref=ref):
                self.watcher.reply({"event": "pong", "ts": now_ts(), "ref": ref})
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
