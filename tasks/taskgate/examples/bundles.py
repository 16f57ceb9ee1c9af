"""Composite jobs: ``reports.bundle`` (one report per region, zipped) and ``demo.bundle``.

Each runs its parts as a Celery group on any free worker, then a merge step; a watcher of
the job's id sees one bar, with the parts under it (see :mod:`taskgate.worker.composite`).
"""

from __future__ import annotations

import time
import zipfile
from typing import IO, Any

from celery import current_task
from pydantic import BaseModel, ConfigDict, Field

from taskgate.examples.reports import REGIONS, Region, report_total
from taskgate.worker.artifacts import artifact_path, write_artifact
from taskgate.worker.composite import Part, PartResult, Plan, composite
from taskgate.worker.progress import report_progress


class BundleParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    regions: list[Region] = Field(
        default_factory=lambda: list[Region](["north", "south", "east", "west"]),
        min_length=1,
        max_length=len(REGIONS),
        description="One report per region, built in parallel.",
    )
    rows: int = Field(100_000, ge=1, le=2_000_000, description="Sales rows per region.")
    seed: int = Field(1, ge=0, le=2**31 - 1, description="Seed of the data sets.")


def _bundle_plan(params: BundleParams) -> Plan:
    regions = list(dict.fromkeys(params.regions))  # each region once, in the given order
    parts = [
        Part(
            name=region,
            job="reports.generate",
            params={"rows": params.rows, "seed": params.seed, "region": region},
            weight=report_total(params.rows, region),
        )
        for region in regions
    ]
    # Zipping costs about what writing the lines did: one unit per line of every part.
    merge_weight = len(regions) * (report_total(0, regions[0]))
    return Plan(parts, merge_weight=merge_weight)


@composite(
    "reports.bundle",
    params=BundleParams,
    description=(
        "Builds one sales report per region in parallel (a Celery group of reports.generate), "
        "then zips them into one file to download."
    ),
    plan=_bundle_plan,
    time_limit=600,
    soft_time_limit=570,
)
def bundle(params: BundleParams, parts: list[PartResult]) -> dict[str, Any]:
    job_id = str(current_task.request.id)
    name = f"sales-reports-{len(parts)}-regions-{params.rows}-rows-seed-{params.seed}.zip"

    def write(raw: IO[bytes]) -> None:
        with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for done, part in enumerate(parts, start=1):
                artifact = part.result["artifact"]
                archive.write(artifact_path(part.job_id, artifact["name"]), artifact["name"])
                report_progress(done, len(parts), f"{done} of {len(parts)} files zipped")

    artifact = write_artifact(job_id, name, "application/zip", write)
    return {
        "regions": [part.name for part in parts],
        "rows": params.rows * len(parts),
        "file": artifact.name,
        "bytes": artifact.bytes,
        "sha256": artifact.sha256,
        "artifact": artifact.describe(),
    }


class DemoBundleParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    parts: int = Field(3, ge=1, le=16, description="How many parts run in parallel.")
    seconds: float = Field(2.0, ge=0, le=300, description="How long each part runs.")
    fail_part: int | None = Field(
        None, ge=1, le=16, description="This part (1-based) fails halfway, on purpose (demo.fail)."
    )


def _demo_plan(params: DemoBundleParams) -> Plan:
    parts = []
    for index in range(1, params.parts + 1):
        if index == params.fail_part:
            # It fails halfway, while the others still run: they are cancelled.
            steps = 2
            seconds = params.seconds / 2 / steps
            fail = {"steps": steps, "seconds_per_step": seconds, "message": f"part {index} broke"}
            parts.append(Part(f"part-{index}", "demo.fail", fail))
        else:
            echo = {"task_id": index, "seconds": params.seconds}
            parts.append(Part(f"part-{index}", "demo.echo", echo))
    return Plan(parts, merge_weight=0.0)


@composite(
    "demo.bundle",
    params=DemoBundleParams,
    description="Runs `parts` demo.echo jobs in parallel (one may fail), then adds up their ids.",
    plan=_demo_plan,
    time_limit=60,
)
def demo_bundle(params: DemoBundleParams, parts: list[PartResult]) -> int:
    time.sleep(0.1)  # stands in for real merge work
    return sum(int(part.result) for part in parts)
