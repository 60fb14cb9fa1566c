"""The operator's pages: the order list with a package icon per portal confirmation, one
order's protocol, and the tracking imports with their rejected rows (HTTP Basic login)."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from connectors.carriers import CARRIERS
from core.domain import ConfirmationStatus, OrderStatus, Portal
from db.queries.imports import get_import, list_rejections
from db.queries.orders import get_order
from db.queries.protocol import order_protocol
from db.queries.web import (
    OrderFilter,
    flow_runs_of_order,
    order_page,
    recent_imports,
)
from db.session import session_scope
from web.deps import AppPages, AppSettings, Operator, row_id

router = APIRouter()

PER_PAGE = 50
REJECTED_ROWS_SHOWN = 2000
FILTER_NAMES = (
    "status",
    "portal",
    "carrier",
    "created_from",
    "created_to",
    "shipped_from",
    "shipped_to",
    "q",
)

# the package icon's colour class and its legend, DreamRobot style
ICON_LEGEND = (
    (ConfirmationStatus.PENDING, "pending: not told yet"),
    (ConfirmationStatus.SUBMITTED, "submitted: sent, waiting for the portal's result"),
    (ConfirmationStatus.CONFIRMED, "confirmed by the portal"),
    (ConfirmationStatus.REJECTED, "rejected by the portal (reason on hover)"),
    (ConfirmationStatus.FAILED, "failed: retries used up (reason on hover)"),
    (ConfirmationStatus.SKIPPED, "skipped by policy (reason on hover)"),
    (
        ConfirmationStatus.HELD,
        "held: waits for the shipping mail (reason on hover); `liefern portals release` lets it go",
    ),
)


def _date(value: str | None, problems: list[str], name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{name}: {value!r} is not a date (YYYY-MM-DD); ignored")
        return None


def _page_number(value: str | None) -> int:
    digits = value is not None and value.isascii() and value.isdigit()  # "²".isdigit()
    return int(value) if digits and value and 0 < int(value) < 1_000_000 else 1


def parse_filter(request: Request) -> tuple[OrderFilter, dict[str, str], list[str]]:
    """The filter from the query string; unusable values are ignored and reported."""
    raw = {n: request.query_params.get(n, "").strip()[:100] for n in FILTER_NAMES}
    problems: list[str] = []
    order_filter = OrderFilter(
        status=raw["status"] or None,
        portal=raw["portal"] or None,
        carrier=raw["carrier"] or None,
        created_from=_date(raw["created_from"], problems, "created from"),
        created_to=_date(raw["created_to"], problems, "created to"),
        shipped_from=_date(raw["shipped_from"], problems, "shipped from"),
        shipped_to=_date(raw["shipped_to"], problems, "shipped to"),
        q=raw["q"] or None,
    )
    return order_filter, {k: v for k, v in raw.items() if v}, problems


@router.get("/", include_in_schema=False)
def home(_operator: Operator) -> RedirectResponse:
    return RedirectResponse("/orders", status.HTTP_303_SEE_OTHER)


@router.get("/orders", response_class=HTMLResponse)
def orders(
    request: Request, settings: AppSettings, pages: AppPages, _operator: Operator
) -> HTMLResponse:
    order_filter, active, problems = parse_filter(request)
    page = _page_number(request.query_params.get("page"))
    with session_scope(settings.db_url) as session:
        lines, has_next = order_page(
            session, order_filter=order_filter, page=page, per_page=PER_PAGE
        )

    def page_url(number: int) -> str:
        return "/orders?" + urlencode({**active, "page": number})

    return pages.response(
        "orders",
        lines=lines,
        active=active,
        problems=problems,
        choices={"portal": [p.value for p in Portal], "carrier": list(CARRIERS)},
        statuses=[s.value for s in OrderStatus],
        legend=ICON_LEGEND,
        page=page,
        first_row=(page - 1) * PER_PAGE + 1,
        prev_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if has_next else None,
        shop_name=settings.shop_name,
        nav="orders",
    )


@router.get("/orders/{order_no}", response_class=HTMLResponse)
def order_detail(
    order_no: str, settings: AppSettings, pages: AppPages, _operator: Operator
) -> HTMLResponse:
    with session_scope(settings.db_url) as session:
        order = get_order(session, order_no=order_no)
        if order is None:
            return pages.error(status.HTTP_404_NOT_FOUND)
        protocol = order_protocol(session, order=order)
        runs = flow_runs_of_order(session, order_id=order.id)
    return pages.response(
        "order", p=protocol, runs=runs, shop_name=settings.shop_name, nav="orders"
    )


@router.get("/imports", response_class=HTMLResponse)
def imports(
    request: Request, settings: AppSettings, pages: AppPages, _operator: Operator
) -> HTMLResponse:
    page = _page_number(request.query_params.get("page"))
    with session_scope(settings.db_url) as session:
        rows, has_next = recent_imports(session, page=page, per_page=PER_PAGE)
    return pages.response(
        "imports",
        rows=rows,
        page=page,
        prev_url=f"/imports?page={page - 1}" if page > 1 else None,
        next_url=f"/imports?page={page + 1}" if has_next else None,
        shop_name=settings.shop_name,
        nav="imports",
    )


@router.get("/imports/{import_id}", response_class=HTMLResponse)
def import_detail(
    import_id: str, settings: AppSettings, pages: AppPages, _operator: Operator
) -> HTMLResponse:
    number = row_id(import_id)
    if number is None:
        return pages.error(status.HTTP_404_NOT_FOUND)
    with session_scope(settings.db_url) as session:
        record = get_import(session, import_id=number)
        if record is None:
            return pages.error(status.HTTP_404_NOT_FOUND)
        rejected = list_rejections(session, import_id=number)
    return pages.response(
        "import",
        record=record,
        rejected=rejected[:REJECTED_ROWS_SHOWN],
        rejected_total=len(rejected),
        shop_name=settings.shop_name,
        nav="imports",
    )
