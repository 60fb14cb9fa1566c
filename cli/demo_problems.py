"""The demo's watchlist step: one parcel made late, and the problems list that shows it.

The demo's parcels were all mailed a moment ago, so none is late yet. One DHL parcel's shipping
mail (and its order's shipped time and ship date) is moved back past the first-scan threshold:
no carrier has scanned it since, so the list (core/watchlist.py) shows it as "no first scan".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core.settings import Settings
from core.watchlist import say
from db.models import Order, Parcel, ShippingMail
from db.queries.watchlist import count_problem_parcels, problem_parcels
from db.session import session_scope
from db.types import utcnow


def watchlist_step(settings: Settings, url: str, lines: list[str]) -> dict[str, Any]:
    """Make one parcel late, then read the list; its summary line goes to `lines`."""
    thresholds = settings.watch_thresholds()
    late = _date_back_one_mail(url, by=thresholds.first_scan + timedelta(hours=2))
    now = utcnow()
    with session_scope(url) as session:
        found = problem_parcels(session, now=now, thresholds=thresholds)
        count = count_problem_parcels(session, now=now, thresholds=thresholds)
    shown = next((p for p in found if p.order_no == late), found[0] if found else None)
    if shown is None:
        lines.append("problems: no parcel on the problems list; liefern problems")
    else:
        what = "parcel delayed" if count == 1 else "parcels need a look, e.g."
        lines.append(
            f"problems: {count} {what} ({shown.order_no} {shown.carrier} "
            f"{shown.tracking_number[:4]}…: {say(shown.problem, thresholds)}); liefern problems"
        )
    return {"count": count, "dated_back": late, "parcels": [p.as_dict() for p in found]}


def _date_back_one_mail(url: str, *, by: timedelta) -> str | None:
    """The order whose shipping mail moved `by` into the past (None: no mailed parcel)."""
    single = select(Parcel.order_id).group_by(Parcel.order_id).having(func.count() == 1)
    with session_scope(url) as session:
        candidates = (
            select(Order, ShippingMail)
            .join(ShippingMail, ShippingMail.order_id == Order.id)
            .join(Parcel, Parcel.order_id == Order.id)
            .where(
                Order.status == "shipped",
                ShippingMail.kind == "shipped",
                ShippingMail.status == "sent",
                Parcel.tracking_number.is_not(None),
                Parcel.first_scan_at.is_(None),
                Order.id.in_(single),  # one parcel: the list shows one line for it
            )
            .order_by((Parcel.carrier != "dhl"), Order.id)  # a DHL parcel where there is one
            .limit(1)
        )
        row = session.execute(candidates).first()
        if row is None:
            return None
        order, mail = row
        if mail.finished_at:
            mail.finished_at -= by
        if order.shipped_at:
            order.shipped_at -= by
        for parcel in session.scalars(select(Parcel).where(Parcel.order_id == order.id)):
            parcel.ship_date -= timedelta(days=by.days)
        return order.order_no
