"""The problems list for the operator (`/problems`, `/problems.csv`): parcels that need a look
(core/watchlist.py), each linked to its order; linked from the navigation of every page."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from core.clock import business_today
from core.shipping_list import neutralise_cell
from core.watchlist import Problem, Thresholds
from db.queries.watchlist import ProblemParcel, count_problem_parcels, problem_parcels
from db.session import session_scope
from db.types import utcnow
from web.deps import AppPages, AppSettings, Operator
from web.i18n import ISO, OperatorUi, Ui, stamp
from web.operator import operator_page

router = APIRouter()

CSV_COLUMNS = (
    "col_order",
    "portal",
    "carrier",
    "tracking_number",
    "col_problem",
    "col_since",
    "col_last_status",
    "carrier_says",
)


def problem_words(ui: Ui, problem: Problem, thresholds: Thresholds) -> str:
    return ui.text(f"pr_{problem}", hours=thresholds.first_scan_hours, days=thresholds.stalled_days)


def _status(ui: Ui, line: ProblemParcel) -> str:
    if not line.delivery_status:
        return ""
    word = ui.t.get(f"ds_{line.delivery_status}", line.delivery_status)
    return f"{word}: {line.status_text}" if line.status_text else word


@router.get("/problems", response_class=HTMLResponse)
def problems(
    settings: AppSettings, pages: AppPages, ui: OperatorUi, _operator: Operator
) -> HTMLResponse:
    thresholds = settings.watch_thresholds()
    now = utcnow()
    with session_scope(settings.db_url) as session:
        lines = problem_parcels(session, now=now, thresholds=thresholds)
        count = count_problem_parcels(session, now=now, thresholds=thresholds)
    return operator_page(
        pages,
        ui,
        "problems",
        lines=lines,
        count=count,
        thresholds=thresholds,
        said=lambda problem: problem_words(ui, problem, thresholds),
        status=lambda line: _status(ui, line),
        shop_name=settings.shop_name,
        nav="problems",
    )


@router.get("/problems.csv")
def problems_csv(settings: AppSettings, ui: OperatorUi, _operator: Operator) -> Response:
    """The whole list for a spreadsheet; cells a spreadsheet would run as formulas start
    with `'` (the carriers' status texts and account names come from outside)."""
    thresholds = settings.watch_thresholds()
    with session_scope(settings.db_url) as session:
        lines = problem_parcels(session, now=utcnow(), thresholds=thresholds, limit=None)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([ui.t[key] for key in CSV_COLUMNS])
    for line in lines:
        cells = [
            line.order_no,
            f"{line.portal} {line.portal_account}",
            line.carrier,
            line.tracking_number,
            problem_words(ui, line.problem, thresholds),
            stamp(line.since, ISO),
            ui.t.get(f"ds_{line.delivery_status}", line.delivery_status or ""),
            line.status_text or "",
        ]
        writer.writerow([neutralise_cell(cell) for cell in cells])
    name = f"problems-{business_today().isoformat()}.csv"
    return Response(
        buffer.getvalue().encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
