"""The fallback poll: the one polling loop in taskgate, one per gateway process.

Pushes through the channel layer are at-most-once: a message published while a process was
reconnecting, or dropped anywhere on the way, is gone. This loop repairs that. Every
``TASKGATE_FALLBACK_INTERVAL`` seconds it reads the states of all jobs watched in this
process that are not yet terminal, in one ``MGET`` per 500 jobs (never per watcher), and
offers each state to the watchers; their seq filter drops what they already have. While the
channel layer is unreachable it polls every ``TASKGATE_FALLBACK_DEGRADED_INTERVAL`` seconds
and probes the layer each round; once a probe gets through, it rejoins the job groups, polls
once more to cover the gap, and steps back to the normal interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from taskgate.backends.state_store import StateStore, StoreUnavailable
from taskgate.config import get_config
from taskgate.contract.states import State
from taskgate.counters import FALLBACK_ROUNDS
from taskgate.delivery.hub import Hub
from taskgate.delivery.lost import settle_if_lost, sweep_lost
from taskgate.delivery.stalled import sweep_stalled

logger = logging.getLogger(__name__)


class FallbackPoller:
    def __init__(self, hub: Hub, store: StateStore) -> None:
        self._hub = hub
        self._store = store
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.repaired = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def interval(self) -> float:
        if self._hub.layer_ok:
            return get_config().fallback_interval
        return get_config().fallback_degraded_interval

    async def _run(self) -> None:
        next_probe = time.monotonic() + get_config().layer_probe_interval
        next_sweep = time.monotonic() + get_config().lease_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval()):
                    await self._hub.layer_changed.wait()
            self._hub.layer_changed.clear()
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + get_config().lease_seconds
                try:
                    await sweep_stalled(
                        self._store, self._hub, await sweep_lost(self._store, self._hub)
                    )
                except StoreUnavailable as exc:
                    logger.warning("lost-job sweep: result backend unreachable: %s", exc)
                except Exception:
                    logger.exception("lost and stalled job sweep failed")
            if not self._hub.watchers:
                continue
            try:
                if not self._hub.layer_ok or time.monotonic() >= next_probe:
                    next_probe = time.monotonic() + get_config().layer_probe_interval
                    if await self._hub.probe():
                        await self._hub.rejoin()
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("fallback round failed")

    async def poll_once(self) -> None:
        """Read every watched job's state once and offer it to its watchers."""
        job_ids = self._hub.watched()
        if not job_ids:
            return
        self.rounds += 1
        FALLBACK_ROUNDS.labels("normal" if self._hub.layer_ok else "degraded").inc()
        try:
            states = await self._store.states(job_ids)
        except StoreUnavailable as exc:
            logger.warning("fallback poll: result backend unreachable: %s", exc)
            return
        for index, (job_id, state) in enumerate(states.items()):
            if index % 200 == 199:
                await asyncio.sleep(0)  # let pushes through between slices of a big round
            if state.state is State.QUEUED:
                continue
            if not state.leased:
                await settle_if_lost(self._store, self._hub, state)
                continue
            if state.seq <= self._hub.seen(job_id):
                # Every watcher here was offered this state already (a push): offering it
                # again would only be dropped by each socket's seq filter, a thousand times.
                continue
            self._hub.deliver(job_id, state.event(), "fallback")
