"""Action buttons on the order page: `POST /orders/{order_no}/actions`.

The same functions as the CLI underneath (tasks/actions.py), with the operator's login name as
the one who acts: send the shipping mail now (a second mail only with the "send it again"
box), resend a failed mail, retry the portal confirmations, mark the order arrived. Those
functions do one thing when called twice, so a double click mails nobody twice.

Like the tracking entry, the form carries a nonce signed for this order and a POST another
site made is refused (the browser sends the operator's Basic login along with any request).
The answer is a 303 back to the order page, which says what happened in the operator's
language: the result travels as a status word from a fixed list (ACTION_RESULTS), never as
free text in the address.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from core.accounts import Accounts
from core.carriers.numbers import TrackingNumberError, normalise_tracking_number
from core.settings import Settings
from db.queries.actions import add_action
from db.queries.orders import get_order
from db.queries.web import mark_arrived
from db.session import session_scope
from db.types import utcnow
from tasks.actions import ActionResult, deliver_orders, resend_mails, retry_confirmations
from tasks.holds import release_orders
from tasks.own_loop import run_loop
from tasks.tracking_fix import correct_tracking, remove_tracking
from web.buyer import is_cross_site
from web.deps import AppPages, AppSettings, Operator
from web.i18n import OperatorUi, Ui
from web.parcel_entry import ParcelForm, nonce_is_valid, number_error
from web.render import Pages

router = APIRouter()
T = TypeVar("T")

ARRIVED_SOURCE = "operator"  # the buyer's button writes "buyer"
ACTIONS = ("deliver", "resend", "retry", "release", "correct", "remove", "arrived")
# the status words of tasks/actions.py an action can end with, plus "arrived"/"already_arrived";
# each has a text `result_<word>` in the catalogues
ACTION_RESULTS = (
    "sent",
    "already_sent",
    "failed",
    "suppressed",
    "in_other_run",
    "waiting",
    "not_mailed",
    "no_parcel",
    "cancelled",
    "retried",
    "nothing_to_retry",
    "arrived",
    "already_arrived",
    "unknown",
    "released",
    "nothing_held",
    "reason_missing",
    "corrected",
    "corrected_by_hand",
    "already_corrected",
    "number_taken",
    "removed",
    "already_removed",
    "told_already",
)


def result_word(result: ActionResult, order_no: str) -> str:
    """This order's outcome as one word of ACTION_RESULTS ("failed" for anything else)."""
    words = [o.status for o in result.orders if o.order_no == order_no]
    if result.errors:  # a portal could not be told now: the confirmations table says which
        return "failed"
    word = words[-1] if words else "nothing_to_retry"
    return word if word in ACTION_RESULTS else "failed"


def _release(settings: Settings, order_no: str, data: FormData, *, by: str) -> str:
    """`liefern portals release` for this order's held confirmations, with the given reason."""
    reason = " ".join(str(data.get("reason") or "").split())[:500]
    if not reason:
        return "reason_missing"
    portal = str(data.get("portal") or "")[:20] or None
    accounts = Accounts.load(settings.accounts_path)
    report = release_orders(
        settings.db_url,
        order_nos=[order_no],
        by=by,
        reason=reason,
        accounts=accounts,
        portal=portal,
    )
    return "released" if report.released else "nothing_held"


def _parcel_carrier(settings: Settings, order_no: str, number: str) -> str | None:
    wanted = "".join(number.split()).upper()
    with session_scope(settings.db_url) as session:
        order = get_order(session, order_no=order_no)
        for parcel in order.parcels if order is not None else []:
            if (parcel.tracking_number or "").upper() == wanted:
                return parcel.carrier
    return None


def _number_problem(ui: Ui, carrier: str | None, new: str) -> str | None:
    """The new number checked like the tracking entry checks one: format and check digit."""
    if carrier is None:
        return None  # the parcel is gone (a double click): correct_tracking names what is there
    if not new.strip():
        return ui.text("err_number_missing")
    try:
        normalise_tracking_number(carrier, new)
    except TrackingNumberError as error:
        return number_error(ui, error, carrier)
    return None


def _fix_word(result: ActionResult, order_no: str) -> str:
    """A correction's or removal's outcome: its first word; the portals' notes are in the
    protocol, the correction mail's outcome in the mail table."""
    words = [o.status for o in result.orders if o.order_no == order_no]
    if not words:
        return "failed"
    if words[0] == "corrected" and "by_hand" in words:
        return "corrected_by_hand"
    return words[0] if words[0] in ACTION_RESULTS else "failed"


async def _mark_arrived(settings: Settings, order_id: int, *, by: str) -> str:
    with session_scope(settings.db_url) as session:
        if not mark_arrived(session, order_id=order_id, at=utcnow(), source=ARRIVED_SOURCE):
            return "already_arrived"
        add_action(
            session,
            order_id=order_id,
            action="arrived",
            by=by,
            detail="marked arrived by the operator",
            at=utcnow(),
        )
    return "arrived"


@router.post("/orders/{order_no}/actions", response_class=HTMLResponse)
async def order_action(
    order_no: str,
    request: Request,
    settings: AppSettings,
    pages: AppPages,
    ui: OperatorUi,
    operator: Operator,
) -> Response:
    if is_cross_site(request, settings):
        return pages.error(status.HTTP_403_FORBIDDEN)
    data = await request.form()
    return await off_the_loop(lambda: _act(settings, pages, ui, order_no, data, operator=operator))


async def off_the_loop(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """An action's work on an event loop of its own in the app's thread pool (that of the plain
    `def` routes): its database sessions are synchronous, and the app's loop must keep serving
    other requests while it runs (mails and portal calls take seconds)."""
    return await run_in_threadpool(run_loop, work)


async def _act(
    settings: Settings, pages: Pages, ui: Ui, order_no: str, data: FormData, *, operator: str
) -> Response:
    from web.operator import render_order  # the page these buttons are part of

    action = str(data.get("action") or "")
    with session_scope(settings.db_url) as session:
        order = get_order(session, order_no=order_no)
        order_id = order.id if order is not None else None
    if order_id is None:
        return pages.error(status.HTTP_404_NOT_FOUND)
    if action not in ACTIONS:
        return pages.error(status.HTTP_400_BAD_REQUEST)
    secret = settings.secret_key.get_secret_value()
    if not nonce_is_valid(secret, order_id, str(data.get("nonce") or "")):
        form = ParcelForm.blank(utcnow().date())
        form.note = ui.text("form_expired")  # the page again, with a fresh nonce
        return render_order(settings, pages, ui, order_no, form, status.HTTP_403_FORBIDDEN)
    checked = {name for name in ("again", "rejected") if data.get(name) == "1"}
    if action == "arrived":
        word = await _mark_arrived(settings, order_id, by=operator)
    elif action == "release":
        word = _release(settings, order_no, data, by=operator)
    elif action in ("correct", "remove"):
        old = str(data.get("old") or "")[:100]
        new = str(data.get("new") or "")[:100]
        parcel = _parcel_carrier(settings, order_no, old)
        if action == "correct":
            problem = _number_problem(ui, parcel, new)
            if problem is not None:  # shown at the parcel's field, the page otherwise as it was
                form = ParcelForm.blank(utcnow().date())
                return render_order(
                    settings,
                    pages,
                    ui,
                    order_no,
                    form,
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    fix={"old": old, "new": new, "error": problem},
                )
            result = await correct_tracking(
                settings.db_url, order_no=order_no, old=old, new=new, by=operator, settings=settings
            )
        else:
            result = await remove_tracking(
                settings.db_url, order_no=order_no, number=old, by=operator, settings=settings
            )
        word = _fix_word(result, order_no)
    else:
        if action == "deliver":
            result = await deliver_orders(
                settings.db_url,
                order_nos=[order_no],
                by=operator,
                resend="again" in checked,
                settings=settings,
            )
        elif action == "resend":
            result = await resend_mails(
                settings.db_url, order_nos=[order_no], by=operator, settings=settings
            )
        else:
            portal = str(data.get("portal") or "")[:20] or None
            result = await retry_confirmations(
                settings.db_url,
                order_nos=[order_no],
                by=operator,
                rejected="rejected" in checked,
                portal=portal,
                settings=settings,
            )
        word = result_word(result, order_no)
    # post/redirect/get: reloading the page does not send the action again
    query = urlencode({"did": action, "result": word})
    return RedirectResponse(
        f"/orders/{quote(order_no, safe='')}?{query}#actions", status.HTTP_303_SEE_OTHER
    )


# --- bulk actions on the order list ----------------------------------------------------------

# on the ticked rows, and "resend_failed": every order whose shipping mail failed (no selection)
BULK_ACTIONS = ("resend", "retry", "arrived", "resend_failed")
BULK_MAX_ORDERS = 500  # a few pages' worth; more at once: the CLI
BULK_NAMED = 20  # orders that did not work named in the message; the rest counted
LIST_NONCE_ID = 0  # the list's nonce is bound to no order: row ids start at 1
DONE = ("sent", "retried", "arrived")


@router.post("/orders/bulk", response_class=HTMLResponse)
async def bulk_action(
    request: Request, settings: AppSettings, pages: AppPages, operator: Operator
) -> Response:
    if is_cross_site(request, settings):
        return pages.error(status.HTTP_403_FORBIDDEN)
    data = await request.form()
    action = str(data.get("action") or "")
    if action not in BULK_ACTIONS:
        return pages.error(status.HTTP_400_BAD_REQUEST)
    secret = settings.secret_key.get_secret_value()
    if not nonce_is_valid(secret, LIST_NONCE_ID, str(data.get("nonce") or "")):
        return pages.error(status.HTTP_403_FORBIDDEN)
    order_nos = list(dict.fromkeys(str(v)[:64] for v in data.getlist("order")))
    order_nos = order_nos[:BULK_MAX_ORDERS]
    outcomes = await off_the_loop(lambda: _bulk(settings, action, order_nos, by=operator))
    not_done = [(no, word) for no, word in outcomes.items() if word not in DONE]
    query = [
        ("bulk", action),
        ("done", str(len(outcomes) - len(not_done))),
        ("not_done", str(len(not_done))),
        *(("failed", f"{word}:{no}") for no, word in not_done[:BULK_NAMED]),
    ]
    return RedirectResponse(f"/orders?{urlencode(query)}", status.HTTP_303_SEE_OTHER)


async def _bulk(
    settings: Settings, action: str, order_nos: list[str], *, by: str
) -> dict[str, str]:
    """Each selected order's outcome as a word of ACTION_RESULTS ("unknown" for none)."""
    outcomes = dict.fromkeys(order_nos, "unknown")
    if action == "arrived":
        for order_no in order_nos:
            with session_scope(settings.db_url) as session:
                order = get_order(session, order_no=order_no)
                order_id = order.id if order is not None else None
            if order_id is not None:
                outcomes[order_no] = await _mark_arrived(settings, order_id, by=by)
        return outcomes
    if action == "resend_failed":  # `liefern mails resend --failed`: the ledger chooses
        result = await resend_mails(settings.db_url, by=by, failed=True, settings=settings)
        outcomes = {o.order_no: "unknown" for o in result.orders}
    elif action == "resend":
        result = await resend_mails(settings.db_url, order_nos=order_nos, by=by, settings=settings)
    else:
        result = await retry_confirmations(
            settings.db_url, order_nos=order_nos, by=by, settings=settings
        )
    for outcome in result.orders:
        if outcome.order_no in outcomes:
            word = outcome.status if outcome.status in ACTION_RESULTS else "failed"
            outcomes[outcome.order_no] = word
    return outcomes
