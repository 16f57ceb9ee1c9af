"""Where a Redis is: one server (a ``redis://`` URL), or a master found through Sentinel.

With ``TASKGATE_REDIS_SENTINELS`` and ``TASKGATE_REDIS_MASTER`` set, the broker, the result
backend, the channel layer and taskgate's own clients all ask the sentinels for the current
master; the database number and the password still come from each one's URL (``REDIS_URL``,
or ``TASKGATE_BROKER_URL``/``_RESULT_URL``/``_CHANNEL_URL``). :class:`RedisTarget` says it
once, in each dialect: Celery's and kombu's ``sentinel://`` URLs with the ``master_name``
transport option, channels-redis's host dict, and redis-py's clients. Nothing here connects
until a client is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.sentinel
from redis.asyncio.sentinel import SentinelConnectionPool

from taskgate.config.fields import SettingError

DEFAULT_SENTINEL_PORT = 26379
SENTINELS = "TASKGATE_REDIS_SENTINELS"
# redis-py's Sentinel classes are untyped.
Sentinel: Any = redis.sentinel.Sentinel
AsyncSentinel: Any = redis.asyncio.sentinel.Sentinel
MASTER = "TASKGATE_REDIS_MASTER"


def parse_sentinels(entries: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """``("host:port", "[::1]:26380", "host")`` as ``(host, port)`` pairs."""
    found: list[tuple[str, int]] = []
    for entry in entries:
        parts = urlsplit(f"//{entry}")
        try:
            port = parts.port or DEFAULT_SENTINEL_PORT
        except ValueError:
            port = 0
        if not parts.hostname or not port or parts.path or parts.username:
            raise SettingError(f"{SENTINELS} takes host:port entries, not {entry!r}")
        found.append((parts.hostname, port))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A Redis to talk to: ``url`` itself, or (with ``sentinels``) the master ``master``.

    With sentinels, ``url`` still carries the database number, user and password.
    """

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""

    @classmethod
    def from_setting(cls, url: str, sentinels: tuple[str, ...], master: str) -> RedisTarget:
        """The Redis of ``url`` (one of the settings' URLs), through the ``sentinels``
        (``TASKGATE_REDIS_SENTINELS``) to ``master`` (``TASKGATE_REDIS_MASTER``) if given."""
        found = parse_sentinels(sentinels)
        if found and not master:
            raise SettingError(f"{SENTINELS} needs {MASTER} (the name of the master)")
        if master and not found:
            raise SettingError(f"{MASTER} needs {SENTINELS} (where the sentinels are)")
        return cls(url, found, master)

    @classmethod
    def from_celery(cls, url: str, transport_options: Mapping[str, Any] | None) -> RedisTarget:
        """The Redis of a Celery result backend (or broker) URL and its transport options."""
        if not url.startswith("sentinel://"):
            return cls(url)
        master = str((transport_options or {}).get("master_name") or "")
        if not master:
            raise ValueError("a sentinel:// URL needs the master_name transport option")
        chunks = [urlsplit(chunk) for chunk in url.split(";") if chunk]
        sentinels = tuple(
            (chunk.hostname or "127.0.0.1", chunk.port or DEFAULT_SENTINEL_PORT) for chunk in chunks
        )
        first = chunks[0]
        userinfo = first.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{sentinels[0][0]}" if userinfo else sentinels[0][0]
        return cls(urlunsplit(("redis", netloc, first.path, "", "")), sentinels, master)

    @property
    def via_sentinel(self) -> bool:
        return bool(self.sentinels)

    def credentials(self) -> dict[str, Any]:
        """The database number, user and password of ``url`` (redis-py's keywords)."""
        parts = urlsplit(self.url)
        path = parts.path.strip("/")
        found: dict[str, Any] = {"db": int(path) if path.isdigit() else 0}
        if parts.username:
            found["username"] = unquote(parts.username)
        if parts.password:
            found["password"] = unquote(parts.password)
        return found

    def celery_url(self) -> str:
        """For the broker or the result backend: ``url``, or ``sentinel://…;sentinel://…``."""
        if not self.sentinels:
            return self.url
        parts = urlsplit(self.url)
        userinfo = parts.netloc.rpartition("@")[0]
        prefix = f"{userinfo}@" if userinfo else ""
        db = self.credentials()["db"]
        return ";".join(
            f"sentinel://{prefix}{_host(host)}:{port}/{db}" for host, port in self.sentinels
        )

    def transport_options(self, connect_timeout: float) -> dict[str, Any]:
        """Celery's ``broker_transport_options``/``result_backend_transport_options`` part."""
        if not self.sentinels:
            return {}
        return {"master_name": self.master, "sentinel_kwargs": _sentinel_kwargs(connect_timeout)}

    def channel_host(self, **options: Any) -> dict[str, Any]:
        """A channels-redis host entry (``options``: connection keywords)."""
        if not self.sentinels:
            return {"address": self.url, **options}
        timeout = float(options.get("socket_connect_timeout") or 2.0)
        return {
            "sentinels": list(self.sentinels),
            "master_name": self.master,
            "sentinel_kwargs": _sentinel_kwargs(timeout),
            **self.credentials(),
            **options,
        }

    def sync_client(self, **options: Any) -> redis.Redis:
        """A redis-py client (``options``: connection keywords such as ``socket_timeout``)."""
        if not self.sentinels:
            return redis.Redis.from_url(self.url, **options)
        timeout = float(options.get("socket_connect_timeout") or 2.0)
        sentinel = Sentinel(list(self.sentinels), sentinel_kwargs=_sentinel_kwargs(timeout))
        client: redis.Redis = sentinel.master_for(self.master, **self.credentials(), **options)
        return client

    def async_pool(
        self, *, max_connections: int, timeout: float | None, **options: Any
    ) -> aioredis.ConnectionPool:
        """A blocking pool for ``redis.asyncio``: a burst waits for a connection, up to
        ``timeout`` seconds, instead of failing."""
        if not self.sentinels:
            return aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=max_connections, timeout=timeout, **options
            )
        connect = float(options.get("socket_connect_timeout") or 2.0)
        sentinel = AsyncSentinel(list(self.sentinels), sentinel_kwargs=_sentinel_kwargs(connect))
        pool: Any = BlockingSentinelConnectionPool
        return pool(  # type: ignore[no-any-return]
            self.master,
            sentinel,
            max_connections=max_connections,
            timeout=timeout,
            **self.credentials(),
            **options,
        )

    def describe(self) -> str:
        """Where it is, without the password (for people: logs, ``taskgate doctor``)."""
        db = self.credentials()["db"]
        if self.sentinels:
            where = ", ".join(f"{_host(host)}:{port}" for host, port in self.sentinels)
            return f"master {self.master!r} (db {db}) through the sentinels {where}"
        parts = urlsplit(self.url)
        netloc = _host(parts.hostname or "")
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def master_address(self, timeout: float) -> tuple[str, int]:
        """The master's address as the sentinels name it now (raises if none does)."""
        sentinel = Sentinel(list(self.sentinels), sentinel_kwargs=_sentinel_kwargs(timeout))
        host, port = sentinel.discover_master(self.master)
        return str(host), int(port)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _sentinel_kwargs(timeout: float) -> dict[str, Any]:
    # The sentinels themselves answer small questions: a short bound, so a dead one is
    # passed over quickly for the next.
    return {"socket_connect_timeout": timeout, "socket_timeout": timeout}


class BlockingSentinelConnectionPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """redis.asyncio's Sentinel pool (the master asked of the sentinels on each connect) with
    the blocking pool's wait for a free connection (``get_connection``/``release``)."""
