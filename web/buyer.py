"""The buyer's arrival page: `GET /arrived/{token}` shows a button, only its POST confirms.

Mail security scanners open every link in a mail, so a GET must never change anything. The
token in the URL is the secret that names the order; the form's POST additionally carries a
nonce signed with the secret key when the page was shown, so a POST that did not come from
the page (a scanner, a cross-site form) is refused. Every kind of bad token gets the same 404
page, so a token reveals nothing about other orders.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from contextlib import nullcontext
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, TimestampSigner

from core.links import order_from_token
from core.settings import Settings
from db.queries.web import ArrivalView, arrival_view, mark_arrived
from db.session import session_scope
from db.types import utcnow
from web.deps import AppPages, AppSettings
from web.render import Pages, when

router = APIRouter()

ARRIVED_SOURCE = "buyer-link"
NONCE_SALT = "liefern.arrival-form.v1"
NONCE_MAX_AGE_SECONDS = 14 * 24 * 3600  # a page left open on a phone for days still works

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "title": "Ist Ihre Bestellung angekommen?",
        "order": "Bestellung {order_no} bei {shop}",
        "ask": "Bitte bestätigen Sie uns mit einem Tipp, dass Ihre Sendung angekommen ist.",
        "button": "Ja, die Ware ist angekommen",
        "done_title": "Vielen Dank!",
        "done": "Wir haben vermerkt, dass Ihre Bestellung angekommen ist.",
        "already_title": "Bereits bestätigt",
        "already": "Sie haben den Empfang bereits am {when} bestätigt. Vielen Dank!",
        "cancelled_title": "Bestellung storniert",
        "cancelled": "Diese Bestellung wurde storniert, daher kann ihr Empfang nicht bestätigt "
        "werden. Bei Fragen schreiben Sie uns gerne an {contact}.",
        "again": "Die Seite war zu lange geöffnet. Bitte tippen Sie noch einmal auf den Knopf.",
        "items": "Artikel",
        "contact": "Fragen? {contact}",
    },
    "en": {
        "title": "Has your order arrived?",
        "order": "Order {order_no} from {shop}",
        "ask": "Please let us know with one tap that your parcel has arrived.",
        "button": "Yes, my order has arrived",
        "done_title": "Thank you!",
        "done": "We have noted that your order has arrived.",
        "already_title": "Already confirmed",
        "already": "You already confirmed the arrival on {when}. Thank you!",
        "cancelled_title": "Order cancelled",
        "cancelled": "This order was cancelled, so its arrival cannot be confirmed. If you have "
        "any questions, please write to {contact}.",
        "again": "This page was open for too long. Please tap the button once more.",
        "items": "Items",
        "contact": "Questions? {contact}",
    },
}


# --- buyer links in logs ------------------------------------------------------------------------

_TOKEN_IN_PATH = re.compile(r"(/arrived/)[^/?\s\"]+")


def redact_buyer_links(text: str) -> str:
    """`/arrived/<token>` becomes `/arrived/…`: a buyer link's token is a secret."""
    return _TOKEN_IN_PATH.sub(r"\1…", text)


class RedactBuyerLinks(logging.Filter):
    """For the access log: its lines name every requested path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_buyer_links(a) if isinstance(a, str) else a for a in record.args
            )
        return True


# --- the form nonce ---------------------------------------------------------------------------


def _signer(secret: str) -> TimestampSigner:
    return TimestampSigner(secret, salt=NONCE_SALT)


def make_nonce(secret: str, order_id: int) -> str:
    """A fresh value per page view, bound to the order, signed with a timestamp."""
    return _signer(secret).sign(f"{order_id}.{secrets.token_urlsafe(9)}").decode("ascii")


def nonce_is_valid(secret: str, order_id: int, nonce: str | None) -> bool:
    if not nonce or len(nonce) > 200:
        return False
    try:
        value = _signer(secret).unsign(nonce, max_age=NONCE_MAX_AGE_SECONDS).decode("ascii")
    except (BadSignature, UnicodeDecodeError):
        return False
    return value.split(".", 1)[0] == str(order_id)


# --- cross-site checks ------------------------------------------------------------------------


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_cross_site(request: Request, settings: Settings) -> bool:
    """True when the browser says (or the Origin shows) the POST came from another site.

    `Sec-Fetch-Site` is sent by current browsers whatever the referrer policy; with our
    `Referrer-Policy: no-referrer` the `Origin` of a same-origin form is "null", which says
    nothing either way, so then the signed nonce alone decides."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site.lower() != "same-origin"
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return False
    allowed = {_origin_of(settings.public_url), _origin_of(str(request.base_url))}
    return origin.lower().rstrip("/") not in allowed


# --- pages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resolved:
    order: ArrivalView
    secret: str


def _resolve(settings: Settings, token: str) -> _Resolved | None:
    secret = settings.secret_key.get_secret_value()
    order_id = order_from_token(secret, token)
    if order_id is None:
        return None
    with session_scope(settings.db_url) as session:
        order = arrival_view(session, order_id=order_id)
    return _Resolved(order, secret) if order else None


def _language(order: ArrivalView) -> str:
    return "de" if order.language.startswith("de") else "en"


def _page(
    pages: Pages,
    settings: Settings,
    order: ArrivalView,
    *,
    state: str,
    secret: str,
    status_code: int = 200,
    note: str | None = None,
) -> HTMLResponse:
    language = _language(order)
    texts = TEXTS[language]
    return pages.response(
        "arrival",
        status_code,
        lang=language,
        t=texts,
        state=state,
        order=order,
        shop_name=settings.shop_name,
        contact=settings.shop_contact,
        heading_order=texts["order"].format(order_no=order.order_no, shop=settings.shop_name),
        arrived_when=when(order.arrived_at, language),
        nonce=make_nonce(secret, order.order_id) if state == "ask" else "",
        note=note,
    )


def _state(order: ArrivalView) -> str:
    if order.status == "cancelled":
        return "cancelled"
    if order.status == "arrived" or order.arrived_at is not None:
        return "already"
    return "ask"


@router.get("/arrived/{token}", response_class=HTMLResponse)
def show_arrival(token: str, settings: AppSettings, pages: AppPages) -> HTMLResponse:
    """Shows the button; changes nothing (mail scanners and link previews open this)."""
    found = _resolve(settings, token)
    if found is None:
        return pages.error(status.HTTP_404_NOT_FOUND)
    return _page(pages, settings, found.order, state=_state(found.order), secret=found.secret)


@router.post("/arrived/{token}", response_class=HTMLResponse)
def confirm_arrival(
    token: str,
    request: Request,
    settings: AppSettings,
    pages: AppPages,
    nonce: str | None = Form(None),
) -> HTMLResponse:
    found = _resolve(settings, token)
    if found is None:
        return pages.error(status.HTTP_404_NOT_FOUND)
    if is_cross_site(request, settings):
        return pages.error(status.HTTP_403_FORBIDDEN)
    order = found.order
    state = _state(order)
    if state != "ask":
        return _page(pages, settings, order, state=state, secret=found.secret)
    if not nonce_is_valid(found.secret, order.order_id, nonce):
        # shown again with a fresh nonce: a real buyer taps once more, a scanner does not
        return _page(
            pages,
            settings,
            order,
            state="ask",
            secret=found.secret,
            status_code=status.HTTP_403_FORBIDDEN,
            note=TEXTS[_language(order)]["again"],
        )
    changed, after = _confirm(settings, order)
    return _page(
        pages, settings, after, state="done" if changed else _state(after), secret=found.secret
    )


# SQLite lets one writer in at a time and makes the others wait by sleeping and retrying;
# queueing our own writers on a lock instead keeps a burst of buyers' taps at ~1 ms each.
_sqlite_writer = threading.Lock()


def _confirm(settings: Settings, order: ArrivalView) -> tuple[bool, ArrivalView]:
    """Mark the order arrived; (whether this request did it, the order as it is now)."""
    at = utcnow()
    writer = _sqlite_writer if settings.db_url.startswith("sqlite") else nullcontext()
    with writer, session_scope(settings.db_url) as session:
        changed = mark_arrived(session, order_id=order.order_id, at=at, source=ARRIVED_SOURCE)
    if changed:
        return True, replace(order, status="arrived", arrived_at=at)
    with session_scope(settings.db_url) as session:  # someone else was quicker, or cancelled
        now = arrival_view(session, order_id=order.order_id)
    return False, now or order
