"""The orders pages: the list with its Export button, and one export's live progress."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

import taskgate
from tasks import export_orders

# Rows an export has unless the form says otherwise, and at most.
DEFAULT_ROWS = 2000
MAX_ROWS = 100_000


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    return render(request, "orders/list.html", {"default_rows": DEFAULT_ROWS})


@login_required
@require_POST
def start_export(request: HttpRequest) -> HttpResponse:
    try:
        rows = min(MAX_ROWS, max(1, int(request.POST.get("rows", DEFAULT_ROWS))))
    except ValueError:
        rows = DEFAULT_ROWS
    try:
        # The job belongs to the signed-in user: only their browser may watch or download it.
        job_id = taskgate.start(export_orders.s(rows), owner=request)
    except taskgate.ProtocolError as exc:  # Redis or the broker is down: nothing was started
        messages.error(request, f"The export could not be started: {exc}")
        return redirect("orders:list")
    return redirect("orders:export-detail", job_id=job_id)


@login_required
def export_detail(request: HttpRequest, job_id: object) -> HttpResponse:
    return render(request, "orders/export.html", {"job_id": str(job_id)})
