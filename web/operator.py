"""The operator's pages: the order list with a package icon per portal confirmation, one
order's protocol, and the tracking imports with their rejected rows (HTTP Basic login)."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.bounces import BOUNCE_CLASSES
from core.carriers.table import CARRIERS
from core.clock import business_today
from core.domain import ConfirmationStatus, MailStatus, OrderStatus, Portal
from core.settings import Settings
from db.queries.imports import get_import, list_rejections
from db.queries.order_filter import NO_MAIL, RED, OrderFilter
from db.queries.orders import get_order
from db.queries.protocol import order_protocol
from db.queries.web import (
    count_orders,
    flow_runs_of_order,
    order_page,
    recent_imports,
)
from db.session import session_scope
from web.deps import AppPages, AppSettings, Operator, row_id
from web.exports import orders_csv_bytes
from web.i18n import OperatorUi, Ui
from web.order_actions import ACTION_RESULTS, ACTIONS, BULK_ACTIONS, LIST_NONCE_ID
from web.parcel_entry import ParcelForm, make_nonce
from web.render import Pages
from web.timeline import describe, run_what
from web.uploads import upload_form_context

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
    "mail",
    "bounce",
    "confirmation",
)

# the package icons of the legend, DreamRobot style; their meanings are in the catalogues
ICON_LEGEND = tuple(s.value for s in ConfirmationStatus)


def _date(value: str | None, problems: list[str], name: str, ui: Ui) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(ui.text("not_a_date", field=name, value=value))
        return None


def _page_number(value: str | None) -> int:
    digits = value is not None and value.isascii() and value.isdigit()  # "²".isdigit()
    return int(value) if digits and value and 0 < int(value) < 1_000_000 else 1


def parse_filter(request: Request, ui: Ui) -> tuple[OrderFilter, dict[str, str], list[str]]:
    """The filter from the query string; unusable values are ignored and reported."""
    raw = {n: request.query_params.get(n, "").strip()[:100] for n in FILTER_NAMES}
    problems: list[str] = []
    t = ui.t
    order_filter = OrderFilter(
        status=raw["status"] or None,
        portal=raw["portal"] or None,
        carrier=raw["carrier"] or None,
        created_from=_date(raw["created_from"], problems, t["created_from"], ui),
        created_to=_date(raw["created_to"], problems, f"{t['created_from']} … {t['to']}", ui),
        shipped_from=_date(raw["shipped_from"], problems, t["shipped_from"], ui),
        shipped_to=_date(raw["shipped_to"], problems, f"{t['shipped_from']} … {t['to']}", ui),
        search=raw["q"] or None,
        mail=raw["mail"] or None,
        bounce=raw["bounce"] if raw["bounce"] in BOUNCE_CLASSES else None,
        confirmations=((None, raw["confirmation"]),) if raw["confirmation"] else (),
    )
    return order_filter, {k: v for k, v in raw.items() if v}, problems


@router.get("/", include_in_schema=False)
def home(_operator: Operator) -> RedirectResponse:
    return RedirectResponse("/orders", status.HTTP_303_SEE_OTHER)


@router.get("/orders", response_class=HTMLResponse)
def orders(
    request: Request, settings: AppSettings, pages: AppPages, ui: OperatorUi, _operator: Operator
) -> HTMLResponse:
    order_filter, active, problems = parse_filter(request, ui)
    page = _page_number(request.query_params.get("page"))
    with session_scope(settings.db_url) as session:
        lines, has_next = order_page(
            session, order_filter=order_filter, page=page, per_page=PER_PAGE
        )
        total = count_orders(session, order_filter=order_filter)

    def page_url(number: int) -> str:
        return "/orders?" + urlencode({**active, "page": number})

    return operator_page(
        pages,
        ui,
        "orders",
        lines=lines,
        active=active,
        problems=problems,
        choices={"portal": [p.value for p in Portal], "carrier": list(CARRIERS)},
        statuses=[s.value for s in OrderStatus],
        mail_states=[NO_MAIL, *(s.value for s in MailStatus)],
        bounce_classes=BOUNCE_CLASSES,
        confirmation_states=[RED, *(s.value for s in ConfirmationStatus)],
        total=total,
        bulk=_bulk_flash(ui, request),
        list_nonce=make_nonce(settings.secret_key.get_secret_value(), LIST_NONCE_ID),
        export_url="/orders.csv" + ("?" + urlencode(active) if active else ""),
        legend=ICON_LEGEND,
        page=page,
        first_row=(page - 1) * PER_PAGE + 1,
        prev_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if has_next else None,
        shop_name=settings.shop_name,
        nav="orders",
    )


@router.get("/orders.csv")
def orders_csv(
    request: Request, settings: AppSettings, ui: OperatorUi, _operator: Operator
) -> Response:
    """The filtered list as a spreadsheet (all pages, up to EXPORT_MAX_ORDERS)."""
    order_filter, _active, _problems = parse_filter(request, ui)
    with session_scope(settings.db_url) as session:
        body = orders_csv_bytes(session, order_filter, ui)
    name = f"orders-{business_today().isoformat()}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get("/orders/{order_no}", response_class=HTMLResponse)
def order_detail(
    order_no: str,
    request: Request,
    settings: AppSettings,
    pages: AppPages,
    ui: OperatorUi,
    _operator: Operator,
) -> HTMLResponse:
    added, known = (_count(request.query_params.get(n)) for n in ("added", "known"))
    form = ParcelForm.blank(business_today())
    flash = _action_flash(ui, request.query_params.get("did"), request.query_params.get("result"))
    return render_order(settings, pages, ui, order_no, form, added=added, known=known, flash=flash)


def _action_flash(ui: Ui, action: str | None, word: str | None) -> str | None:
    """What an action button did (web/order_actions.py), from a fixed list of words."""
    if action not in ACTIONS or word not in ACTION_RESULTS:
        return None
    return f"{ui.text(f'action_{action}')}: {ui.text(f'result_{word}')}"


def _count(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 7 else 0


def _bulk_flash(ui: Ui, request: Request) -> dict[str, Any] | None:
    """What a bulk action on the list did: counts, and the orders that did not work."""
    query = request.query_params
    action = query.get("bulk")
    if action not in BULK_ACTIONS:
        return None
    failed = []
    for item in query.getlist("failed")[:50]:
        word, _, order_no = item.partition(":")
        if word in ACTION_RESULTS:
            failed.append((order_no[:64], ui.text(f"result_{word}")))
    counts = {n: ui.number(_count(query.get(n))) for n in ("done", "not_done")}
    return {
        "said": ui.text("bulk_result", action=ui.text(f"bulk_{action}"), **counts),
        "failed": failed,
    }


def render_order(
    settings: Settings,
    pages: Pages,
    ui: Ui,
    order_no: str,
    form: ParcelForm,
    status_code: int = 200,
    *,
    added: int = 0,
    known: int = 0,
    flash: str | None = None,
    fix: dict[str, str] | None = None,
) -> HTMLResponse:
    """One order's page: its facts, parcels, mail, confirmations, protocol and tracking entry."""
    with session_scope(settings.db_url) as session:
        order = get_order(session, order_no=order_no)
        if order is None:
            return pages.error(status.HTTP_404_NOT_FOUND)
        protocol = order_protocol(session, order=order)
        runs = flow_runs_of_order(session, order_id=order.id)
        order_id = order.id
    return operator_page(
        pages,
        ui,
        "order",
        status_code,
        p=protocol,
        runs=runs,
        form=form,
        nonce=make_nonce(settings.secret_key.get_secret_value(), order_id),
        carriers=[(c.code, c.name) for c in CARRIERS.values()],
        describe=describe,
        run_what=run_what,
        added=added,
        known=known,
        flash=flash,
        fix=fix or {},
        shop_name=settings.shop_name,
        nav="orders",
    )


def operator_page(
    pages: Pages, ui: Ui, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """An operator page in the operator's language."""
    return ui.finish(pages.response(name, status_code, ui=ui, **context))


@router.get("/imports", response_class=HTMLResponse)
def imports(
    request: Request, settings: AppSettings, pages: AppPages, ui: OperatorUi, _operator: Operator
) -> HTMLResponse:
    page = _page_number(request.query_params.get("page"))
    return render_imports(settings, pages, ui, page=page)


def render_imports(
    settings: Settings,
    pages: Pages,
    ui: Ui,
    *,
    page: int = 1,
    status_code: int = 200,
    upload_error: str | None = None,
) -> HTMLResponse:
    """The import list with the upload form (again, with the file field's error)."""
    with session_scope(settings.db_url) as session:
        rows, has_next = recent_imports(session, page=page, per_page=PER_PAGE)
    return operator_page(
        pages,
        ui,
        "imports",
        status_code,
        rows=rows,
        page=page,
        prev_url=f"/imports?page={page - 1}" if page > 1 else None,
        next_url=f"/imports?page={page + 1}" if has_next else None,
        upload_error=upload_error,
        **upload_form_context(settings),
        shop_name=settings.shop_name,
        nav="imports",
    )


@router.get("/imports/{import_id}", response_class=HTMLResponse)
def import_detail(
    import_id: str, settings: AppSettings, pages: AppPages, ui: OperatorUi, _operator: Operator
) -> HTMLResponse:
    number = row_id(import_id)
    if number is None:
        return pages.error(status.HTTP_404_NOT_FOUND)
    with session_scope(settings.db_url) as session:
        record = get_import(session, import_id=number)
        if record is None:
            return pages.error(status.HTTP_404_NOT_FOUND)
        rejected = list_rejections(session, import_id=number)
    return operator_page(
        pages,
        ui,
        "import",
        record=record,
        rejected=rejected[:REJECTED_ROWS_SHOWN],
        rejected_total=len(rejected),
        shop_name=settings.shop_name,
        nav="imports",
    )
