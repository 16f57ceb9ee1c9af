"""The three scenarios, each against taskgate gateways or the polling baseline."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from bench.clients import Recorder, create_jobs, open_watchers
from bench.procs import BenchEnv, Child, command_calls, wait_emitters
from bench.stats import percentile

Result = dict[str, Any]

# Seconds to let things settle between steps (shorter in a smoke run).
SETTLE = {"seconds": 3.0}


@dataclass
class Target:
    """Where the sockets go: N taskgate gateways, or the baseline."""

    env: BenchEnv
    gateways: int = 1
    baseline: bool = False
    children: list[Child] = field(default_factory=list)
    cookie: str | None = None

    async def __aenter__(self) -> Target:
        loop = asyncio.get_running_loop()
        if self.baseline:
            self.children = [await loop.run_in_executor(None, self.env.baseline)]
        else:
            self.children = [
                await loop.run_in_executor(None, self.env.gateway, f"gateway-{i}")
                for i in range(self.gateways)
            ]
            self.cookie = await loop.run_in_executor(None, self._session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for child in self.children:
            self.env.stop(child)

    def _session(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.children[0].port}/") as r:
            cookies = SimpleCookie()
            for header in r.headers.get_all("set-cookie") or []:
                cookies.load(header)
        return f"sessionid={cookies['sessionid'].value}"

    @property
    def urls(self) -> list[str]:
        path = "/" if self.baseline else "/ws/jobs/"
        return [f"ws://127.0.0.1:{child.port}{path}" for child in self.children]

    async def jobs(self, count: int) -> list[str]:
        if self.baseline:
            return [uuid.uuid4().hex for _ in range(count)]
        assert self.cookie is not None
        return await create_jobs(self.urls, self.cookie, count)

    def arrival_quantiles(self) -> dict[str, float]:
        """From the gateways' own ``/metrics``: upper bounds of the p50 and p99 delay of a
        push's arrival in the gateway (splits the delay: emitter and Redis vs. the gateway)."""
        if self.baseline:
            return {}
        buckets: dict[float, float] = {}
        for child in self.children:
            url = f"http://127.0.0.1:{child.port}/metrics"
            with urllib.request.urlopen(url) as response:
                text = response.read().decode()
            for line in text.splitlines():
                if line.startswith("taskgate_event_delay_seconds_bucket") and 'path="push"' in line:
                    bound = line.split('le="')[1].split('"')[0]
                    le = float("inf") if bound == "+Inf" else float(bound)
                    buckets[le] = buckets.get(le, 0.0) + float(line.rsplit(" ", 1)[1])
        total = buckets.get(float("inf"), 0.0)
        out = {}
        for name, q in (("gw_p50_ms_le", 0.5), ("gw_p99_ms_le", 0.99)):
            bound = next((le for le in sorted(buckets) if buckets[le] >= q * total), float("nan"))
            out[name] = bound * 1e3
        return out

    def cpu(self) -> float:
        return sum(child.cpu_seconds() for child in self.children)

    def rss_kib(self) -> int:
        return sum(child.rss_kib() for child in self.children)


async def _emit(env: BenchEnv, job_ids: list[str], emitters: int, args: list[str]) -> Result:
    loop = asyncio.get_running_loop()
    start_at = time.time() + SETTLE["seconds"]  # every emitter has set its jobs up by then
    children = env.emitters(emitters, job_ids, [*args, "--start-at", str(start_at)])
    summaries = await loop.run_in_executor(None, wait_emitters, children, 600.0)
    for child in children:
        env.children.remove(child)
    return {
        "progress": sum(s["progress"] for s in summaries),
        "terminal": sum(s["terminal"] for s in summaries),
        "started": min(s["started"] for s in summaries),
        "seconds": max(s["seconds"] for s in summaries),
        "progress_seconds": max(s["progress_seconds"] for s in summaries),
        "coalesced": sum(s["coalesced"] for s in summaries),
        "cpu_seconds": sum(s["cpu_seconds"] for s in summaries),
    }


async def latency(
    target: Target,
    sockets: int,
    jobs: int,
    rate: float,
    duration: float,
    emitters: int,
    path: str = "publish",
) -> Result:
    """Scenario 1: ``sockets`` watchers of ``jobs`` running jobs, ``rate`` progress events/s."""
    job_ids = await target.jobs(jobs)
    recorder = Recorder(expected_terminals=sockets)
    watchers = await open_watchers(
        target.urls, job_ids, sockets, recorder, cookie=target.cookie, baseline=target.baseline
    )
    cpu0 = target.cpu()
    emitted = await _emit(
        target.env,
        job_ids,
        emitters,
        ["--rate", str(rate / emitters), "--duration", str(duration), "--path", path],
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(recorder.terminal_done.wait(), 60)
    cpu = target.cpu() - cpu0
    await watchers.close()
    delays = sorted(recorder.delays)
    arrival = await asyncio.get_running_loop().run_in_executor(None, target.arrival_quantiles)
    return {
        **arrival,
        "p50_ms": percentile(delays, 50) * 1e3,
        "p90_ms": percentile(delays, 90) * 1e3,
        "p99_ms": percentile(delays, 99) * 1e3,
        "max_ms": (delays[-1] if delays else float("nan")) * 1e3,
        "events": recorder.events,
        "offered_per_s": emitted["progress"] / max(emitted["progress_seconds"], 1e-9),
        "terminals": recorder.terminals,
        "lost_terminals": sockets - recorder.terminals,
        "cpu_pct": 100 * cpu / max(emitted["seconds"], 1e-9),
        "coalesced": emitted["coalesced"],
    }


async def idle(target: Target, sockets: int, jobs: int, seconds: float) -> Result:
    """Scenario 2: ``sockets`` watchers of queued jobs, nothing happening, for ``seconds``."""
    job_ids = await target.jobs(jobs)
    await asyncio.sleep(SETTLE["seconds"])  # let the job set-up settle before the first RSS
    rss0 = target.rss_kib()
    recorder = Recorder()
    watchers = await open_watchers(
        target.urls, job_ids, sockets, recorder, cookie=target.cookie, baseline=target.baseline
    )
    await asyncio.sleep(SETTLE["seconds"])
    client = target.env.client()
    calls0, cpu0, t0 = command_calls(client), target.cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    calls1, cpu1, t1 = command_calls(client), target.cpu(), time.monotonic()
    rss1 = target.rss_kib()
    await watchers.close()
    client.close()
    elapsed = t1 - t0
    per_command = {
        name: (calls1[name] - calls0.get(name, 0)) / elapsed
        for name in calls1
        if name != "info" and calls1[name] != calls0.get(name, 0)
    }
    total = sum(per_command.values())
    return {
        "commands_per_s": total,
        "commands_per_s_per_process": total / len(target.children),
        "top_commands": ", ".join(
            f"{name} {rate:.2f}/s"
            for name, rate in sorted(per_command.items(), key=lambda kv: -kv[1])[:3]
        ),
        "rss_per_socket_kib": (rss1 - rss0) / max(1, sockets),
        "rss_mib": rss1 / 1024,
        "cpu_pct": 100 * (cpu1 - cpu0) / elapsed,
        "sockets": len(watchers.sockets) if watchers.sockets else sockets,
    }


async def burst(target: Target, jobs: int, events: int, rate: float, emitters: int) -> Result:
    """Scenario 3: ``events`` events across ``jobs`` jobs as fast as ``rate`` allows."""
    job_ids = await target.jobs(jobs)
    recorder = Recorder(expected_terminals=jobs)
    watchers = await open_watchers(
        target.urls, job_ids, jobs, recorder, cookie=target.cookie, baseline=target.baseline
    )
    per_job = max(2, events // jobs)
    cpu0 = target.cpu()
    own_cpu0 = time.process_time()  # the load generator: this process's clients
    emitted = await _emit(
        target.env, job_ids, emitters, ["--rate", str(rate / emitters), "--burst", str(per_job)]
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(recorder.terminal_done.wait(), 60)
    cpu = target.cpu() - cpu0
    own_cpu = time.process_time() - own_cpu0
    await watchers.close()
    span = max(recorder.last - emitted["started"], 1e-9)
    return {
        "events_sent": emitted["progress"] + emitted["terminal"],
        "emit_seconds": emitted["seconds"],
        "delivered": recorder.events,
        "delivered_per_s": recorder.events / span,
        "last_terminal_s": recorder.last_terminal - emitted["started"],
        "lost_terminals": jobs - recorder.terminals,
        "gateway_cpu_s": cpu,
        "per_cpu_second": recorder.events / max(cpu, 1e-9),
        "emitters_cpu_s": emitted["cpu_seconds"],
        "loadgen_cpu_s": own_cpu,
        "coalesced": emitted["coalesced"],
    }
