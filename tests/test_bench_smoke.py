"""A tiny run of the benchmark (``python -m bench --smoke``): it runs and loses nothing.

It asserts no timing: the figures of a tiny run on a busy test machine mean nothing. The
real run and its table are in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_benchmark_smoke_runs_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--gateways",
            "1",
            "--no-stored",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=170,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| S1 delay p50 (ms)" in run.stdout
    results = json.loads(out.read_text())
    assert set(results) == {"taskgate x1", "baseline"}
    s1, s2, s3 = (results["taskgate x1"][key] for key in ("s1", "s2", "s3"))
    assert s1["events"] > 0
    assert s1["lost_terminals"] == 0
    assert s2["sockets"] > 0
    assert s3["delivered"] > 0
    assert s3["lost_terminals"] == 0
    assert results["baseline"]["s1"]["lost_terminals"] == 0
