"""The shop's Celery tasks (at the project root: the worker imports them via CELERY_IMPORTS).

``export_orders`` is a plain shared task: it knows taskgate only through
``taskgate.report_progress`` and ``taskgate.open_artifact``. Started with ``taskgate.start``
(the Export button) its progress reaches the browser of whoever started it; started with a
plain ``.delay()`` it runs just the same, and its progress reports do nothing.
"""

import csv
import random
import time
from datetime import date, timedelta
from typing import Any

from celery import Task, shared_task

import taskgate

PRODUCTS = [
    ("kettle", 39.90),
    ("teapot", 24.50),
    ("mug", 8.00),
    ("tea, loose (250 g)", 11.25),
    ("strainer", 4.75),
]
CUSTOMERS = ["Ada", "Grace", "Linus", "Margaret", "Guido", "Barbara", "Ken", "Frances"]
STEPS = 20  # progress reports per export
STEP_SECONDS = 0.12  # stands in for the database query behind each batch of orders


def synthetic_orders(rows: int, seed: int = 1) -> list[list[object]]:
    """``rows`` made-up orders, the same for the same ``rows`` and ``seed``."""
    rng = random.Random(seed * 1_000_003 + rows)  # noqa: S311 (made-up data, not secrets)
    first_day = date(2024, 1, 1)
    orders: list[list[object]] = []
    for number in range(1, rows + 1):
        product, price = rng.choice(PRODUCTS)
        quantity = rng.randint(1, 6)
        day = first_day + timedelta(days=rng.randrange(366))
        customer = rng.choice(CUSTOMERS)
        orders.append(
            [number, day.isoformat(), customer, product, quantity, f"{quantity * price:.2f}"]
        )
    return orders


@shared_task(bind=True)
def export_orders(self: Task[Any, Any], rows: int) -> dict[str, Any]:
    """Every order as a CSV file the browser that started the export may download."""
    name = f"orders-{rows}.csv"
    orders = synthetic_orders(rows)
    batch = max(1, -(-rows // STEPS))  # ceil(rows / STEPS)
    taskgate.report_progress(0, rows, "Starting")
    with taskgate.open_artifact(str(self.request.id), name, "text/csv") as (sink, done):
        out = csv.writer(sink, lineterminator="\n")
        out.writerow(["order", "date", "customer", "product", "quantity", "total"])
        for start in range(0, rows, batch):
            time.sleep(STEP_SECONDS)
            out.writerows(orders[start : start + batch])
            written = min(rows, start + batch)
            taskgate.report_progress(written, rows, f"{written} of {rows} orders")
    artifact = done[0]
    return {
        "rows": rows,
        "file": artifact.name,
        "bytes": artifact.bytes,
        "sha256": artifact.sha256,
        "artifact": artifact.describe(),
    }
