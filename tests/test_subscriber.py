"""The hub's own pub/sub connection (taskgate.delivery.subscriber) against a private Redis:
confirmed subscribes, order, a killed connection, AUTH, and which layers it is used for."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from channels_redis.pubsub import RedisPubSubChannelLayer

from taskgate.cli.redis_server import EmbeddedRedis
from taskgate.delivery.subscriber import Subscriber
from taskgate.events.layer_pipeline import plain_pubsub_address


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("subscriber-redis"), persistent=False).start()
    yield server
    server.stop()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.lost: list[Exception | None] = []
        self.arrived = asyncio.Event()

    def on_message(self, data: bytes) -> None:
        self.messages.append(data)
        self.arrived.set()

    def on_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)

    async def until(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()


def _subscriber(url: str, inbox: Inbox) -> Subscriber:
    return Subscriber(urlsplit(url), inbox.on_message, inbox.on_lost, connect_timeout=5.0)


def test_a_subscribe_is_in_effect_when_it_returns_and_messages_keep_their_order(
    private_redis: EmbeddedRedis,
) -> None:
    client = redis.Redis.from_url(private_redis.url)

    async def run() -> None:
        inbox = Inbox()
        subscriber = _subscriber(private_redis.url, inbox)
        await subscriber.connect()
        client.client_pause(1000, all=True)  # Redis holds every command for a second
        pending = asyncio.ensure_future(subscriber.subscribe("t.order"))
        await asyncio.sleep(0.3)
        assert not pending.done()  # it waits for Redis's confirmation, not only the write
        client.client_unpause()
        await pending
        # Confirmed by Redis before it returned: a publish right after reaches it.
        assert client.publish("t.order", b"first") == 1
        pipe = client.pipeline(transaction=False)
        for n in range(2000):
            pipe.publish("t.order", str(n).encode())
        pipe.execute()
        await inbox.until(2001)
        assert inbox.messages == [b"first", *(str(n).encode() for n in range(2000))]
        subscriber.unsubscribe("t.order")
        await asyncio.sleep(0.2)
        assert client.publish("t.order", b"late") == 0
        subscriber.close()

    asyncio.run(run())


def test_a_killed_connection_is_reported_and_connect_subscribes_the_wanted_channels_again(
    private_redis: EmbeddedRedis,
) -> None:
    client = redis.Redis.from_url(private_redis.url)

    async def run() -> None:
        inbox = Inbox()
        subscriber = _subscriber(private_redis.url, inbox)
        await subscriber.subscribe("t.kept")
        await subscriber.subscribe("t.dropped")
        subscriber.unsubscribe("t.dropped")
        assert client.client_kill_filter(_type="pubsub") == 1
        async with asyncio.timeout(10):
            while not inbox.lost:
                await asyncio.sleep(0.02)
        assert not subscriber.connected
        assert client.publish("t.kept", b"while down") == 0
        await subscriber.connect()
        assert subscriber.connected
        assert client.publish("t.kept", b"again") == 1
        assert client.publish("t.dropped", b"not wanted") == 0
        await inbox.until(1)
        assert inbox.messages == [b"again"]
        subscriber.close()

    asyncio.run(run())


def test_a_subscribe_to_a_dead_server_raises_and_leaves_the_channel_unwanted(
    tmp_path: Path,
) -> None:
    server = EmbeddedRedis(tmp_path / "dead", persistent=False).start()
    url = server.url
    server.stop()

    async def run() -> None:
        inbox = Inbox()
        subscriber = _subscriber(url, inbox)
        with pytest.raises(ConnectionRefusedError):
            await subscriber.subscribe("t.nowhere")
        assert not subscriber.connected
        assert subscriber._wanted == set()

    asyncio.run(run())


def test_it_authenticates_with_the_urls_password_and_with_a_user(
    private_redis: EmbeddedRedis,
) -> None:
    admin = redis.Redis.from_url(private_redis.url)
    admin.acl_setuser(
        "pusher",
        enabled=True,
        passwords=["+pusher-secret"],
        keys=["*"],
        channels=["*"],
        commands=["+@all"],
    )
    admin.config_set("requirepass", "default-secret")
    host = f"127.0.0.1:{private_redis.port}"
    try:

        async def run() -> None:
            for url in (
                f"redis://:default-secret@{host}/0",
                f"redis://pusher:pusher-secret@{host}",
            ):
                inbox = Inbox()
                subscriber = _subscriber(url, inbox)
                await subscriber.subscribe("t.auth")
                publisher = redis.Redis.from_url(url)
                assert publisher.publish("t.auth", b"ok") == 1
                await inbox.until(1)
                subscriber.close()
            wrong = _subscriber(f"redis://:wrong@{host}/0", Inbox())
            with pytest.raises(ConnectionError, match="AUTH failed"):
                await wrong.subscribe("t.auth")

        asyncio.run(run())
    finally:
        redis.Redis.from_url(f"redis://:default-secret@{host}/0").config_set("requirepass", "")
        admin.acl_deluser("pusher")


def test_it_is_used_only_for_a_plain_pubsub_layer_on_one_redis(redis_url: str) -> None:
    def layer(**config: object) -> RedisPubSubChannelLayer:
        return RedisPubSubChannelLayer(**config)

    assert plain_pubsub_address(layer(hosts=[{"address": redis_url}])) is not None
    assert plain_pubsub_address(layer(hosts=[redis_url, "redis://127.0.0.1:1"])) is None
    assert (
        plain_pubsub_address(
            layer(hosts=[{"sentinels": [("127.0.0.1", 26379)], "master_name": "m"}])
        )
        is None
    )
    assert (
        plain_pubsub_address(
            layer(hosts=[{"address": redis_url}], symmetric_encryption_keys=["k" * 32])
        )
        is None
    )


def test_a_hub_on_a_layer_that_is_not_a_pub_sub_one_reads_through_the_layer() -> None:
    """The in-memory layer (a project's tests, say) has no serializer: the hub makes no
    subscriber of its own and hands on what the layer delivers."""
    from django.test import override_settings

    from taskgate.delivery.hub import Hub

    class Socket:  # what the hub calls on a local watcher
        def __init__(self) -> None:
            self.offered: list[dict[str, object]] = []

        def offer(self, job_id: str, event: dict[str, object], frame: bytes | None) -> None:
            self.offered.append(event)

    memory = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with override_settings(CHANNEL_LAYERS=memory):
        hub = Hub()
        assert hub._subscriber is None
        socket = Socket()
        job_id = "in-memory-job"

        async def run() -> None:
            hub.watchers[job_id] = {socket}  # type: ignore[arg-type]
            await hub._join(job_id)
            hub.start()
            await hub.broadcast(job_id, {"event": "progress", "job_id": job_id, "seq": 3})
            async with asyncio.timeout(10):
                while not socket.offered:
                    await asyncio.sleep(0.01)
            await hub.stop()

        asyncio.run(run())
    assert socket.offered == [{"event": "progress", "job_id": job_id, "seq": 3}]


def test_a_delivery_is_handed_on_in_its_turn_and_its_books_kept_after_the_loop_slept() -> None:
    """The client written to may run on the gateway's core only once the gateway sleeps: the
    counters, the delay histogram and the log line wait for that (``BOOKS_DELAY``)."""
    from django.test import override_settings

    from taskgate.contract.wire import now_ts
    from taskgate.delivery.hub import BOOKS_DELAY, Hub

    offered: list[dict[str, object]] = []

    class Socket:
        def offer(self, job_id: str, event: dict[str, object], frame: bytes | None) -> None:
            offered.append(event)

    memory = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with override_settings(CHANNEL_LAYERS=memory):
        hub = Hub()
        job_id = "books-job"

        async def run() -> float:
            loop = asyncio.get_running_loop()
            kept: asyncio.Future[float] = loop.create_future()
            keep = hub.keep_books

            def keep_and_tell() -> None:
                keep()
                kept.set_result(loop.time())

            hub.keep_books = keep_and_tell  # type: ignore[method-assign]
            hub.watchers[job_id] = {Socket()}  # type: ignore[arg-type]
            event = {"event": "progress", "job_id": job_id, "seq": 4, "ts": now_ts()}
            delivered_at = loop.time()
            hub.deliver(job_id, event, "push")
            assert offered == [event]  # handed on in the delivery's own turn
            assert hub.seen(job_id) == 4  # what the fallback skips: at once
            assert hub.delivered["push"] == 0  # the books wait
            async with asyncio.timeout(10):
                at = await kept
            assert hub.delivered["push"] == 1
            return at - delivered_at

        waited = asyncio.run(run())
    assert waited >= BOOKS_DELAY * 0.9  # after the loop slept, not in the same turn
