"""RedisTarget: one Redis URL, or a master through Sentinel, said in each client's dialect."""

from __future__ import annotations

import pytest

from taskgate.config.fields import SettingError
from taskgate.config.redis_target import RedisTarget, parse_sentinels

SENTINELS = ("10.0.0.1:26379", "[::1]:26380", "sentinel-3")


def test_without_sentinels_every_dialect_is_the_url_itself() -> None:
    target = RedisTarget.from_setting("redis://:pw@cache:6380/2", (), "")
    assert not target.via_sentinel
    assert target.celery_url() == "redis://:pw@cache:6380/2"
    assert target.transport_options(2.0) == {}
    assert target.channel_host(socket_timeout=None) == {
        "address": "redis://:pw@cache:6380/2",
        "socket_timeout": None,
    }
    assert target.describe() == "redis://cache:6380/2"  # no password


def test_with_sentinels_celery_gets_sentinel_urls_and_the_master_name() -> None:
    target = RedisTarget.from_setting("redis://user:s%40cret@ignored:6379/3", SENTINELS, "main")
    assert target.via_sentinel
    assert target.sentinels == (("10.0.0.1", 26379), ("::1", 26380), ("sentinel-3", 26379))
    assert target.celery_url() == (
        "sentinel://user:s%40cret@10.0.0.1:26379/3;"
        "sentinel://user:s%40cret@[::1]:26380/3;"
        "sentinel://user:s%40cret@sentinel-3:26379/3"
    )
    options = target.transport_options(1.5)
    assert options["master_name"] == "main"
    assert options["sentinel_kwargs"] == {"socket_connect_timeout": 1.5, "socket_timeout": 1.5}
    assert target.credentials() == {"db": 3, "username": "user", "password": "s@cret"}
    assert "cret" not in target.describe()
    assert "master 'main' (db 3)" in target.describe()


def test_the_channel_layer_host_carries_sentinels_master_and_credentials() -> None:
    target = RedisTarget.from_setting("redis://:pw@x/1", ("a:1", "b:2"), "main")
    host = target.channel_host(socket_connect_timeout=2.0, socket_keepalive=True)
    assert host["sentinels"] == [("a", 1), ("b", 2)]
    assert host["master_name"] == "main"
    assert host["db"] == 1
    assert host["password"] == "pw"
    assert host["socket_keepalive"] is True
    assert "address" not in host


def test_a_celery_sentinel_url_reads_back_as_the_same_target() -> None:
    target = RedisTarget.from_setting("redis://:pw@x/4", SENTINELS, "main")
    again = RedisTarget.from_celery(target.celery_url(), target.transport_options(2.0))
    assert again.sentinels == target.sentinels
    assert again.master == "main"
    assert again.credentials() == target.credentials()
    assert RedisTarget.from_celery("redis://h:1/0", None) == RedisTarget("redis://h:1/0")
    with pytest.raises(ValueError, match="master_name"):
        RedisTarget.from_celery("sentinel://h:1/0", {})


@pytest.mark.parametrize(
    ("sentinels", "master", "message"),
    [
        (("a:1",), "", "needs TASKGATE_REDIS_MASTER"),
        ((), "main", "needs TASKGATE_REDIS_SENTINELS"),
        (("a:notaport",), "main", "host:port entries"),
        (("redis://a:1",), "main", "host:port entries"),
    ],
)
def test_a_half_or_malformed_sentinel_setting_is_refused_by_name(
    sentinels: tuple[str, ...], master: str, message: str
) -> None:
    with pytest.raises(SettingError, match=message):
        RedisTarget.from_setting("redis://x/0", sentinels, master)


def test_a_sentinel_without_a_port_gets_the_default_one() -> None:
    assert parse_sentinels(("s1", "s2:26381")) == (("s1", 26379), ("s2", 26381))
