"""A private Redis per test, plus the workers and gateways the test starts on it and breaks.

Used by the fault tests: import ``FaultStack`` and the ``stack`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from taskgate.cli.redis_server import EmbeddedRedis
from tests.support import Gateway, Proc, start_gateway, start_worker


@dataclass
class FaultStack:
    """A private Redis plus whatever workers and gateways a test starts on it."""

    base_env: dict[str, str]
    logs: Path
    redis: EmbeddedRedis
    procs: list[Proc] = field(default_factory=list)

    def env(self, overrides: dict[str, str] | None) -> dict[str, str]:
        return dict(self.base_env, REDIS_URL=self.redis.url, **(overrides or {}))

    def worker(self, name: str, concurrency: int = 2, env: dict[str, str] | None = None) -> Proc:
        proc = start_worker(self.env(env), self.logs, name=name, concurrency=concurrency)
        self.procs.append(proc)
        return proc

    def gateway(self, name: str, env: dict[str, str] | None = None) -> Gateway:
        gw = start_gateway(self.env(env), self.logs, name=name)
        self.procs.append(gw.proc)
        return gw


@pytest.fixture
def stack(
    base_env: dict[str, str], logs_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[FaultStack]:
    redis = EmbeddedRedis(tmp_path / "redis", persistent=True).start()
    fault_stack = FaultStack(base_env, logs_dir / request.node.name, redis)
    yield fault_stack
    for proc in fault_stack.procs:
        if proc.alive():
            proc.kill_group()
    redis.stop()
