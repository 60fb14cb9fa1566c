"""Tracking entry on the order page: `POST /orders/{order_no}/parcels`.

The same rule underneath as `liefern tracking add`: carrier codes and check digits from the
carrier table, the ship-date guard, then `attach_parcels`, which lands the parcel in the order's
protocol (source `web`). A double click adds one parcel: a tracking number is unique per carrier
and a known one counts as "already known"; an untracked parcel of the same carrier and ship date
is the same parcel. The form carries a nonce signed for this order (like the buyer's arrival
page), and a POST another site made is refused, because the browser sends the operator's Basic
login along with any request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, TimestampSigner
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from core.carriers.numbers import (
    TrackingNumberError,
    UnknownCarrier,
    get_carrier,
    normalise_tracking_number,
)
from core.carriers.table import CARRIERS
from core.clock import business_today
from core.settings import Settings
from core.ship_dates import ShipDateWindow
from core.tracking_rows import ParcelRow
from db.queries.orders import get_order
from db.session import session_scope
from db.types import utcnow
from tasks.parcels import BatchOutcome, attach_parcels
from web.buyer import is_cross_site
from web.deps import AppPages, AppSettings, Operator
from web.i18n import OperatorUi, Ui
from web.render import Pages

router = APIRouter()

SOURCE = "web"
LINES = 3  # empty number lines the form offers; more parcels: send the form again
NONCE_SALT = "liefern.parcel-form.v1"
NONCE_MAX_AGE_SECONDS = 12 * 3600  # a page open through a shift still works


def make_nonce(secret: str, order_id: int) -> str:
    signer = TimestampSigner(secret, salt=NONCE_SALT)
    return signer.sign(f"{order_id}.{secrets.token_urlsafe(9)}").decode("ascii")


def nonce_is_valid(secret: str, order_id: int, nonce: str | None) -> bool:
    if not nonce or len(nonce) > 200:
        return False
    try:
        signer = TimestampSigner(secret, salt=NONCE_SALT)
        value = signer.unsign(nonce, max_age=NONCE_MAX_AGE_SECONDS).decode("ascii")
    except (BadSignature, UnicodeDecodeError):
        return False
    return value.split(".", 1)[0] == str(order_id)


@dataclass
class EntryLine:
    carrier: str = ""
    number: str = ""
    error: str | None = None
    field: str | None = None  # "carrier" or "number": where the error is shown


@dataclass
class ParcelForm:
    """The form as the operator filled it in, with an error per field where there is one."""

    ship_date: str
    lines: list[EntryLine] = field(default_factory=list)
    ship_date_error: str | None = None
    untracked_carrier: str = ""
    untracked_error: str | None = None
    note: str | None = None

    @classmethod
    def blank(cls, today: date) -> ParcelForm:
        return cls(today.isoformat(), [EntryLine() for _ in range(LINES)])

    @property
    def has_errors(self) -> bool:
        return bool(
            self.ship_date_error or self.untracked_error or any(x.error for x in self.lines)
        )


def number_error(ui: Ui, error: TrackingNumberError, carrier: str) -> str:
    name = CARRIERS[carrier].name if carrier in CARRIERS else carrier
    key = f"err_{error.code}"
    if key not in ui.t:
        return error.message
    return ui.text(key, carrier=name, detail=error.message)


def check_form(
    ui: Ui, form: ParcelForm, *, untracked: bool, window: ShipDateWindow, order_no: str
) -> list[tuple[ParcelRow, EntryLine]]:
    """The rows to attach; errors are written onto the form's fields in the operator's language."""
    try:
        day = date.fromisoformat(form.ship_date.strip()) if form.ship_date.strip() else None
    except ValueError:
        form.ship_date_error = ui.text("err_bad_date")
        return []
    if day is None:
        day = business_today()
    problem = window.check(day)
    if problem is not None:
        form.ship_date_error = ui.text(
            f"err_{problem.code}", earliest=ui.day(window.earliest), latest=ui.day(window.latest)
        )
        return []
    if untracked:
        line = EntryLine(carrier=form.untracked_carrier)
        code = _carrier_code(ui, line)
        form.untracked_error = line.error
        return [] if code is None else [(ParcelRow(1, order_no, code, None, day), line)]
    rows: list[tuple[ParcelRow, EntryLine]] = []
    for position, line in enumerate(form.lines, start=1):
        if not (line.carrier or line.number.strip()):
            continue
        code = _carrier_code(ui, line)
        if code is None:
            continue
        if not line.number.strip():
            line.error, line.field = ui.text("err_number_missing"), "number"
            continue
        try:
            normalised = normalise_tracking_number(code, line.number)
        except TrackingNumberError as error:
            line.error, line.field = number_error(ui, error, code), "number"
            continue
        rows.append((ParcelRow(position, order_no, code, normalised, day), line))
    return rows


def _carrier_code(ui: Ui, line: EntryLine) -> str | None:
    if not line.carrier:
        line.error, line.field = ui.text("err_carrier_missing"), "carrier"
        return None
    try:
        return get_carrier(line.carrier).code
    except UnknownCarrier:
        line.error, line.field = ui.text("err_unknown_carrier", value=line.carrier), "carrier"
        return None


def attach(db_url: str, rows: list[ParcelRow]) -> BatchOutcome:
    """`attach_parcels` in its own transaction; a parallel double click that inserted the same
    tracking number first makes this one's insert fail, and the retry then finds it known."""
    for attempt in (1, 2):
        try:
            with session_scope(db_url) as session:
                return attach_parcels(session, rows=rows, source=SOURCE)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@router.post("/orders/{order_no}/parcels", response_class=HTMLResponse)
async def add_parcels(
    order_no: str,
    request: Request,
    settings: AppSettings,
    pages: AppPages,
    ui: OperatorUi,
    _operator: Operator,
) -> Response:
    if is_cross_site(request, settings):
        return pages.error(status.HTTP_403_FORBIDDEN)
    data = await request.form()
    untracked = data.get("untracked") == "1"
    carriers = [str(v)[:40] for v in data.getlist("carrier")][:20]
    numbers = [str(v)[:100] for v in data.getlist("number")][:20]
    form = ParcelForm(
        ship_date=str(data.get("ship_date") or "")[:20],
        lines=[]
        if untracked
        else [EntryLine(c, n) for c, n in zip(carriers, numbers, strict=False)],
        untracked_carrier=str(data.get("carrier") or "")[:40] if untracked else "",
    )
    nonce = str(data.get("nonce") or "")
    # the database work off the event loop, like the app's other (plain `def`) routes
    return await run_in_threadpool(
        _enter, settings, pages, ui, order_no, form, untracked=untracked, nonce=nonce
    )


def _enter(
    settings: Settings,
    pages: Pages,
    ui: Ui,
    order_no: str,
    form: ParcelForm,
    *,
    untracked: bool,
    nonce: str,
) -> Response:
    from web.operator import render_order  # the page this form is part of

    with session_scope(settings.db_url) as session:
        order = get_order(session, order_no=order_no)
        order_id = order.id if order is not None else None
    if order_id is None:
        return pages.error(status.HTTP_404_NOT_FOUND)
    if not nonce_is_valid(settings.secret_key.get_secret_value(), order_id, nonce):
        form.note = ui.text("form_expired")  # shown again with a fresh nonce
        return render_order(settings, pages, ui, order_no, form, status.HTTP_403_FORBIDDEN)
    window = ShipDateWindow.at(utcnow(), max_age_days=settings.ship_date_max_age_days)
    checked = check_form(ui, form, untracked=untracked, window=window, order_no=order_no)
    outcome = attach(settings.db_url, [row for row, _ in checked]) if checked else BatchOutcome()
    by_row = {row.row: line for row, line in checked}
    for problem in outcome.problems:
        line = by_row.get(problem.row)
        key = "order_closed" if problem.code == "order_cancelled" else f"err_{problem.code}"
        message = ui.text(key) if key in ui.t else problem.message
        if untracked:
            form.untracked_error = message
        elif line is not None:
            line.error, line.field = message, "number"
    if form.has_errors:
        cancelled = any(p.code == "order_cancelled" for p in outcome.problems)
        form.note = ui.text("order_closed" if cancelled else "fix_rows")
        form.lines = [x for x in form.lines if x.error] or form.lines
        form.lines += [EntryLine() for _ in range(max(LINES - len(form.lines), 0))]
        return render_order(
            settings,
            pages,
            ui,
            order_no,
            form,
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            added=outcome.imported,
            known=outcome.already_known,
        )
    # post/redirect/get: reloading the page shows the result without sending the form again
    target = (
        f"/orders/{quote(order_no, safe='')}?added={outcome.imported}"
        f"&known={outcome.already_known}#parcels"
    )
    return RedirectResponse(target, status.HTTP_303_SEE_OTHER)
