"""One load-generator process of the many-sockets run: ``--count`` sockets from one loopback
source address, each watching a job, spread over the gateways.

It prints ``open <n>`` once every socket has its snapshot, then reads events until it gets
``dump`` on stdin: it writes what it received (progress and end events per socket, the delay
of each progress event) to ``--out`` and exits.

    python -m bench.socket_loadgen --urls ws://127.0.0.1:P/ws/jobs/ --jobs-file F \
        --count 15000 --offset 0 --source 127.0.0.2 --cookie sessionid=... --out got.json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.procs import raise_nofile

CONCURRENCY = 100


class Tally:
    def __init__(self) -> None:
        self.progress = 0
        self.ends = 0
        self.delays: list[float] = []


async def _read(ws: ClientConnection, tally: Tally) -> None:
    try:
        async for raw in ws:
            now = time.time()
            event: dict[str, Any] = json.loads(raw)
            if event.get("event") == "progress":
                tally.progress += 1
                tally.delays.append(now - datetime.fromisoformat(str(event["ts"])).timestamp())
            elif event.get("event") in ("success", "failure", "cancelled"):
                tally.ends += 1
    except Exception:  # a closed socket ends its reader
        return


async def run(args: argparse.Namespace, jobs: list[str]) -> dict[str, Any]:
    urls = args.urls.split(",")
    tally = Tally()
    sockets: list[ClientConnection] = []
    readers: list[asyncio.Task[None]] = []
    limit = asyncio.Semaphore(CONCURRENCY)
    failed = 0

    async def one(index: int) -> None:
        nonlocal failed
        n = args.offset + index
        async with limit:
            try:
                ws = await connect(
                    urls[n % len(urls)],
                    additional_headers={"Cookie": args.cookie},
                    compression=None,
                    ping_interval=None,
                    open_timeout=120,
                    max_queue=16,
                    local_addr=(args.source, 0),
                )
                await ws.send(json.dumps({"op": "watch", "job_id": jobs[n % len(jobs)]}))
                answer = json.loads(await ws.recv())
            except Exception as exc:
                failed += 1
                if failed <= 3:
                    sys.stderr.write(f"socket {n}: {exc!r}\n")
                return
        if answer.get("event") != "snapshot":
            failed += 1
            return
        sockets.append(ws)
        readers.append(asyncio.ensure_future(_read(ws, tally)))

    await asyncio.gather(*(one(i) for i in range(args.count)))
    sys.stdout.write(f"open {len(sockets)} failed {failed}\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() not in ("dump", ""):
        pass
    return {
        "open": len(sockets),
        "failed": failed,
        "progress": tally.progress,
        "ends": tally.ends,
        "delays": tally.delays,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", required=True)
    parser.add_argument("--jobs-file", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--source", default="127.0.0.1")
    parser.add_argument("--cookie", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    raise_nofile(args.count + 200)
    gc.set_threshold(100_000, 50, 1000)  # a load generator's collections are not delay
    got = asyncio.run(run(args, Path(args.jobs_file).read_text().split()))
    Path(args.out).write_text(json.dumps(got))
    sys.stdout.flush()
    os._exit(0)  # no one-by-one close of thousands of sockets: the gateways see them go


if __name__ == "__main__":
    raise SystemExit(main())
