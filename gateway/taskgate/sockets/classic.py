"""``/async_task/``: the original article's one-shot protocol, kept for its clients.

One JSON object in (``{"task_id": 1}``, optionally ``seconds``), a "running" message, then
the outcome, then the server closes with 1000. Bad input answers ``flag: false`` and closes.
"""

from __future__ import annotations

import json
import logging

from taskgate.contract.wire import JsonObject, dumps
from taskgate.protocol.codes import CloseCode, ErrorCode
from taskgate.protocol.errors import ProtocolError
from taskgate.protocol.requests import SHORTHAND_JOB, decode_frame
from taskgate.sockets.consumer import SocketConsumer

logger = logging.getLogger(__name__)


class ClassicConsumer(SocketConsumer):
    direct_writes = False  # every frame is translated in _send_text
    started = False
    task_id: object = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.started:
            return  # one job per socket; later frames are ignored
        try:
            payload = decode_frame(self.check_frame(text_data, bytes_data))
            if not isinstance(payload, dict):
                raise ProtocolError(ErrorCode.INVALID_MESSAGE, "not an object")
            if "task_id" not in payload:
                await self._refuse("missing required parameter: task_id")
                return
            self.started = True
            self.task_id = payload["task_id"]
            await self.service.submit(SHORTHAND_JOB, payload, None)
        except ProtocolError as error:
            if error.code in (ErrorCode.INVALID_JSON, ErrorCode.INVALID_MESSAGE):
                await self._refuse('wrong format: send one JSON object such as {"task_id": 1}')
            elif error.code is ErrorCode.INVALID_PARAMS:
                fields = "; ".join(f"{d['field']}: {d['message']}" for d in error.details or [])
                await self._refuse(f"invalid parameters: {fields}")
            else:
                await self._refuse(error.message)
        except Exception:
            logger.exception("classic request failed")
            await self._refuse("the server could not handle the request")

    async def _refuse(self, message: str) -> None:
        self.started = True
        self.watcher.reply({"msg": message, "flag": False})
        self.watcher.shutdown(CloseCode.NORMAL)

    async def _send_text(self, text: str) -> None:
        """Translate v1 frames of the job into the classic messages."""
        event: JsonObject = json.loads(text)
        kind = event.get("event")
        if kind is None:  # already a classic message
            await self.send(text_data=text)
        elif kind == "accepted":
            message = {
                "msg": f"Task {self.task_id} is running...",
                "flag": True,
                "job_id": event["job_id"],
            }
            await self.send(text_data=dumps(message))
        elif kind in ("success", "failure", "cancelled"):
            if kind == "success":
                outcome: JsonObject = {
                    "msg": "success",
                    "flag": True,
                    "data": {"result": event.get("result")},
                }
            elif kind == "failure":
                outcome = {"msg": "failure", "flag": False, "error": event.get("error")}
            else:
                outcome = {"msg": "cancelled", "flag": False}
            await self.send(text_data=dumps(outcome))
            await self.close(code=CloseCode.NORMAL)
