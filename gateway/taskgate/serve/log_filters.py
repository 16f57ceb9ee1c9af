"""Filters of taskgate's own logging configuration (taskgate.serve.settings).

No secrets in logs: API tokens are redacted from every line taskgate's project writes. uvicorn
logs each WebSocket handshake with its query string (``"WebSocket
/ws/jobs/?token=..." 403``), and clients that cannot set headers put their token there; a
line that quotes a token, in a query string or anywhere else, keeps only its prefix. And a
request for a host we do not serve is one line, not a 30-line traceback.
"""

from __future__ import annotations

import logging
import re

_QUERY_TOKEN = re.compile(r"((?:\?|&|\b)token=)[^&\s\"']+")
_TOKEN = re.compile(r"\b(tg_[A-Za-z0-9_-]{4})[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    return _TOKEN.sub(r"\1…[redacted]", _QUERY_TOKEN.sub(r"\1[redacted]", text))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class OneLine(logging.Filter):
    """A refusal that needs no traceback (a request for a host we do not serve): one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True
