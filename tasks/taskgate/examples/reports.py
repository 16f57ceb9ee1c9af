"""``reports.generate``: a sales summary over a synthetic, deterministic data set.

The data set is ``rows`` sales (day of 2025, region, product, quantity) drawn from a seeded
generator, so the same ``rows`` and ``seed`` always give the same file, byte for byte. The
job runs in three stages, reporting progress per chunk of rows: ``loading`` (decode the raw
records into columns), ``aggregating`` (orders, units and revenue per month, region and
product) and ``writing`` (the CSV, into the artifacts directory).

:func:`build_report` is the whole report as a plain function of its inputs; the job only
adds the artifact file and the progress calls.
"""

from __future__ import annotations

import calendar
import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from celery import current_task
from pydantic import BaseModel, ConfigDict, Field

from taskgate.worker.artifacts import open_artifact
from taskgate.worker.progress import report_progress
from taskgate.worker.registry import job

CHUNK_ROWS = 50_000
WRITE_CHUNK_LINES = 200
MAX_ROWS = 5_000_000
YEAR = 2025
Region = Literal["north", "south", "east", "west", "central", "coast", "mountain", "islands"]
REGIONS: tuple[str, ...] = get_args(Region)
# (product, unit price in cents)
PRODUCTS = (
    ("anvil", 12_900), ("bicycle", 45_000), ("candle", 450), ("desk", 23_500),
    ("easel", 6_800), ("fountain pen", 3_200), ("globe", 5_400), ("hammock", 8_900),
    ("inkwell", 1_250), ("jigsaw", 2_100), ("kettle", 3_900), ("lantern", 2_700),
    ("mirror", 7_600), ("notebook", 390), ("oven mitt", 990), ("parasol", 4_300),
    ("quilt", 11_200), ("radio", 6_100), ("stool", 4_800), ("teapot", 2_600),
    ("umbrella", 1_900), ("vase", 3_300), ("wok", 5_200), ("yo-yo", 250),
)  # fmt: skip
MAX_QUANTITY = 12
HEADER = "month,region,product,orders,units,revenue,average_order\n"

Progress = Callable[[int, int, str], None]


class TextSink(Protocol):
    def write(self, text: str, /) -> int: ...


class ReportParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    rows: int = Field(
        200_000, ge=1, le=MAX_ROWS, description="How many sales rows to synthesise and summarise."
    )
    seed: int = Field(
        1, ge=0, le=2**31 - 1, description="Seed of the data set: same rows and seed, same file."
    )
    region: Region | None = Field(
        None, description="Only this region's sales (all regions when left out)."
    )


@dataclass(frozen=True, slots=True)
class ReportSummary:
    rows: int
    lines: int
    units: int
    revenue_cents: int


def _month_of_day() -> bytes:
    months = bytearray()
    for month in range(1, 13):
        months.extend([month - 1] * calendar.monthrange(YEAR, month)[1])
    return bytes(months)


def _line_cents() -> list[list[int]]:
    """Revenue of one order, by product and quantity: 5 % off from 5 units, 10 % from 10."""
    table = []
    for _name, price in PRODUCTS:
        row = [0]
        for quantity in range(1, MAX_QUANTITY + 1):
            discount = 10 if quantity >= 10 else 5 if quantity >= 5 else 0
            row.append(quantity * price * (100 - discount) // 100)
        table.append(row)
    return table


def _cents(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def report_total(rows: int, region: str | None = None) -> int:
    """The ``total`` a report of ``rows`` reports progress against (rows twice, then lines)."""
    regions = 1 if region is not None else len(REGIONS)
    return 2 * rows + 12 * regions * len(PRODUCTS) + 1


def build_report(
    rows: int, seed: int, sink: TextSink, progress: Progress, region: str | None = None
) -> ReportSummary:
    """Synthesise ``rows`` sales from ``seed``, aggregate them and write the CSV to ``sink``.

    ``progress(current, total, message)`` is called once per chunk; ``total`` counts rows
    loaded, rows aggregated and CSV lines written. With ``region``, every sale is in that
    region and only its lines are written.
    """
    if not 1 <= rows <= MAX_ROWS:
        raise ValueError(f"rows must be between 1 and {MAX_ROWS}")
    only = None if region is None else REGIONS.index(region)
    groups = 12 * len(REGIONS) * len(PRODUCTS)
    lines = (groups if only is None else 12 * len(PRODUCTS)) + 1  # and the header
    total = report_total(rows, region)
    rng = random.Random(seed)  # noqa: S311 (reproducible synthetic data, not secrets)
    month_of_day = _month_of_day()
    days_in_year = len(month_of_day)
    n_regions, n_products = len(REGIONS), len(PRODUCTS)

    # loading: raw records (5 bytes each) decoded into compact columns.
    days, regions, products, quantities = array("H"), bytearray(), bytearray(), bytearray()
    for start in range(0, rows, CHUNK_ROWS):
        count = min(CHUNK_ROWS, rows - start)
        raw = rng.randbytes(5 * count)
        days.extend(
            (hi << 8 | lo) % days_in_year for hi, lo in zip(raw[0::5], raw[1::5], strict=True)
        )
        if only is None:
            regions.extend(value % n_regions for value in raw[2::5])
        else:
            regions.extend(bytes([only]) * count)
        products.extend(value % n_products for value in raw[3::5])
        quantities.extend(1 + value % MAX_QUANTITY for value in raw[4::5])
        done = start + count
        progress(done, total, f"loading: {done:,} of {rows:,} rows")

    # aggregating: orders, units and revenue per (month, region, product).
    orders, units, revenue = [0] * groups, [0] * groups, [0] * groups
    line_cents = _line_cents()
    for start in range(0, rows, CHUNK_ROWS):
        stop = min(rows, start + CHUNK_ROWS)
        for day, region_code, product, quantity in zip(
            days[start:stop],
            regions[start:stop],
            products[start:stop],
            quantities[start:stop],
            strict=True,
        ):
            key = (month_of_day[day] * n_regions + region_code) * n_products + product
            orders[key] += 1
            units[key] += quantity
            revenue[key] += line_cents[product][quantity]
        progress(rows + stop, total, f"aggregating: {stop:,} of {rows:,} rows")

    # writing: one line per group, in a fixed order.
    sink.write(HEADER)
    written = 1
    batch: list[str] = []
    for key in range(groups):
        month, rest = divmod(key, n_regions * n_products)
        region_index, product = divmod(rest, n_products)
        if only is not None and region_index != only:
            continue
        count = orders[key]
        average = revenue[key] // count if count else 0
        batch.append(
            f"{YEAR}-{month + 1:02d},{REGIONS[region_index]},{PRODUCTS[product][0]},"
            f"{count},{units[key]},{_cents(revenue[key])},{_cents(average)}\n"
        )
        if len(batch) == WRITE_CHUNK_LINES or written + len(batch) == lines:
            sink.write("".join(batch))
            written += len(batch)
            batch = []
            progress(2 * rows + written, total, f"writing: {written:,} of {lines:,} lines")
    return ReportSummary(rows=rows, lines=lines, units=sum(units), revenue_cents=sum(revenue))


def _report_rows(current: int, total: int, message: str) -> None:
    report_progress(current, total, message, unit="rows")


def report_name(params: ReportParams) -> str:
    where = f"-{params.region}" if params.region is not None else ""
    return f"sales-report{where}-{params.rows}-rows-seed-{params.seed}.csv"


@job(
    "reports.generate",
    params=ReportParams,
    description=(
        "Builds a sales summary (orders, units and revenue per month, region and product) "
        "over `rows` synthetic sales, and writes it as a CSV file to download."
    ),
    time_limit=1800,
    soft_time_limit=1740,
)
def generate(params: ReportParams) -> dict[str, Any]:
    job_id = str(current_task.request.id)
    name = report_name(params)
    with open_artifact(job_id, name, "text/csv; charset=utf-8") as (sink, done):
        summary = build_report(params.rows, params.seed, sink, _report_rows, params.region)
    artifact = done[0]
    return {
        "rows": summary.rows,
        "seed": params.seed,
        "lines": summary.lines,
        "units": summary.units,
        "revenue": _cents(summary.revenue_cents),
        "file": artifact.name,
        "bytes": artifact.bytes,
        "sha256": artifact.sha256,
        "artifact": artifact.describe(),
    }
