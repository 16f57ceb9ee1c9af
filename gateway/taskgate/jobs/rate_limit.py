"""Token buckets: ``burst`` requests at once, refilled at ``rate`` per second.

:class:`TokenBucket` guards one socket in memory; :func:`take_shared` is a bucket in Redis that
sockets and HTTP requests of every gateway process draw from: per principal, and per client
address for anonymous submits and new anonymous sessions.
"""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import RedisError

from taskgate.auth.principal import Principal
from taskgate.config import get_config
from taskgate.contract.keys import rate_key
from taskgate.delivery.runtime import get_runtime
from taskgate.protocol.codes import ErrorCode
from taskgate.protocol.errors import ProtocolError


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = max(rate, 1e-9)
        self.burst = max(burst, 1)
        self._tokens = float(self.burst)
        self._stamp = time.monotonic()

    def take(self) -> float:
        """Take a token. Returns 0 on success, else the seconds until one is available."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


# A token bucket in one Redis hash, so every gateway process shares it. Redis' own clock
# keeps processes on different hosts in step. Returns the seconds to wait (0: admitted).
_BUCKET = """
if redis.replicate_commands then redis.replicate_commands() end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(saved[1]) or burst
local stamp = tonumber(saved[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


async def take_shared(client: Any, key: str, rate: float, burst: int) -> float:
    """Take a token from the shared bucket ``key``: 0 if admitted, else seconds to wait.

    Raises ``redis.exceptions.RedisError`` (or ``OSError``) when Redis is unreachable.
    """
    wait = await client.eval(_BUCKET, 1, key, repr(max(rate, 1e-9)), str(max(burst, 1)))
    return float(wait.decode() if isinstance(wait, bytes) else wait)


async def admit_submit(principal: Principal) -> None:
    """Draw from the principal's submit bucket (shared by every socket, request, process),
    and, for anonymous use, from its client address's too: a client that drops its cookie
    or opens new sockets is still one address."""
    config = get_config()
    await _admit(
        rate_key(principal.owner),
        config.principal_submit_rate,
        config.principal_submit_burst,
        "submits",
    )
    if not principal.authenticated and principal.address:
        await _admit(
            rate_key(f"address:{principal.address}"),
            config.anonymous_submit_rate,
            config.anonymous_submit_burst,
            "anonymous submits from this address",
        )


async def admit_new_session(address: str) -> None:
    """An anonymous session is about to be made for ``address``: one more database row."""
    config = get_config()
    await _admit(
        rate_key(f"session:{address}"),
        config.anonymous_session_rate,
        config.anonymous_session_burst,
        "new anonymous sessions from this address",
    )


async def _admit(key: str, rate: float, burst: int, what: str) -> None:
    try:
        wait = await take_shared(get_runtime().store.client, key, rate, burst)
    except (RedisError, OSError):
        raise ProtocolError(
            ErrorCode.UNAVAILABLE, "Redis is unreachable: the job was not dispatched; try again"
        ) from None
    if wait > 0:
        raise ProtocolError(
            ErrorCode.RATE_LIMITED, f"too many {what}; wait before the next one",
            retry_after=round(wait, 3),
        )  # fmt: skip
