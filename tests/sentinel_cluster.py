"""A real Redis master, one replica and three sentinels on loopback free ports (tests only).

Each server runs from a generated config file in its own directory; the sentinels watch the
master under :data:`MASTER` with short timeouts (down after 1 s), so a killed master is
replaced in a few seconds.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis

from taskgate.cli.redis_server import find_redis_server, free_port
from tests.support import wait_until

MASTER = "taskgate"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 4000


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """kill -9: no shutdown, no save."""
        self.process.kill()
        self.process.wait()


@dataclass
class SentinelCluster:
    root: Path
    master: Server | None = None
    replica: Server | None = None
    sentinels: list[Server] = field(default_factory=list)

    def _spawn(self, name: str, lines: list[str], *extra: str) -> Server:
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        conf = home / "redis.conf"
        log = home / "redis.log"
        conf.write_text(
            "\n".join(
                [
                    f"port {port}",
                    "bind 127.0.0.1",
                    f"dir {home}",
                    f"logfile {log}",
                    "save ''",
                    "appendonly no",
                    *lines,
                ]
            )
            + "\n"
        )
        process = subprocess.Popen(
            [find_redis_server(), str(conf), *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = Server(port, process, log)
        wait_until(lambda: redis.Redis(port=port).ping(), 10, f"{name} on {port}")
        return server

    def start(self) -> SentinelCluster:
        self.master = self._spawn("master", [])
        self.replica = self._spawn("replica", [f"replicaof 127.0.0.1 {self.master.port}"])
        wait_until(
            lambda: (
                redis.Redis(port=self.replica_port).info("replication")["master_link_status"]
                == "up"
            ),
            10,
            "the replica in sync",
        )
        for number in range(3):
            self.sentinels.append(
                self._spawn(
                    f"sentinel-{number}",
                    [
                        f"sentinel monitor {MASTER} 127.0.0.1 {self.master.port} 2",
                        f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
                        f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
                        f"sentinel parallel-syncs {MASTER} 1",
                    ],
                    "--sentinel",
                )
            )
        # Every sentinel knows the replica and the other sentinels before anything fails.
        wait_until(
            lambda: all(
                info["num-slaves"] == 1 and info["num-other-sentinels"] == 2
                for info in (self.master_info(s) for s in self.sentinels)
            ),
            30,
            "the sentinels to find the replica and each other",
        )
        return self

    @property
    def replica_port(self) -> int:
        assert self.replica is not None
        return self.replica.port

    @property
    def sentinel_setting(self) -> str:
        """``TASKGATE_REDIS_SENTINELS``."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    @staticmethod
    def master_info(sentinel: Server) -> dict[str, object]:
        client = redis.Redis(port=sentinel.port, decode_responses=True)
        info = client.sentinel_master(MASTER)
        assert isinstance(info, dict)
        return info

    def master_port_named(self) -> int:
        """The master's port as the first sentinel names it now."""
        client = redis.Redis(port=self.sentinels[0].port, decode_responses=True)
        address = client.sentinel_get_master_addr_by_name(MASTER)
        assert isinstance(address, tuple | list)
        return int(address[1])

    def switched_at(self) -> float:
        """When (epoch seconds) a sentinel logged ``+switch-master``: the promotion done."""
        for sentinel in self.sentinels:
            for line in sentinel.log.read_text(errors="replace").splitlines():
                if "+switch-master" in line:
                    stamp = " ".join(line.split()[1:5])  # 02 Dec 2026 16:12:05.986
                    moment = datetime.strptime(stamp, "%d %b %Y %H:%M:%S.%f")
                    return moment.replace(tzinfo=UTC).timestamp()
        raise LookupError("no sentinel switched the master")

    def stop(self) -> None:
        for server in [*self.sentinels, self.replica, self.master]:
            if server is not None and server.process.poll() is None:
                server.kill()
