"""Orders shipped with one parcel each, in whatever state a watchlist test needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from db.models import Order, Parcel, ShippingMail
from db.session import session_scope
from tests.helpers import numbers, seed_orders


@dataclass
class Shipped:
    """One order and its parcel: `parcel` holds the Parcel columns to set, `mailed` the time
    its shipping mail went out (None: no mail row), `order` Order columns."""

    mailed: datetime | None
    parcel: dict[str, Any] = field(default_factory=dict)
    order: dict[str, Any] = field(default_factory=dict)
    mail_status: str = "sent"


def ship(db_url: str, cases: list[Shipped], *, carrier: str = "dhl") -> list[str]:
    """Store the cases; their order numbers, in the same order."""
    samples = seed_orders(db_url, len(cases))
    pool = iter(numbers(carrier, len(cases)))
    out = []
    with session_scope(db_url) as session:
        for sample, case in zip(samples, cases, strict=True):
            order = session.scalars(
                select(Order).where(Order.order_no == sample.order["order_no"])
            ).one()
            order.status = "shipped"
            order.shipped_at = case.mailed
            for name, value in case.order.items():
                setattr(order, name, value)
            values: dict[str, Any] = {
                "carrier": carrier,
                "tracking_number": next(pool),
                "ship_date": date(2026, 12, 1),
                "source": "cli",
                **case.parcel,
            }
            session.add(Parcel(order_id=order.id, **values))
            if case.mailed is not None:
                session.add(
                    ShippingMail(
                        order_id=order.id,
                        kind="shipped",
                        status=case.mail_status,
                        carrier=carrier,
                        message_id=f"<{order.order_no}.shipped@example.de>",
                        recipient=order.buyer_email,
                        language=order.language,
                        attempts=1,
                        finished_at=case.mailed,
                    )
                )
            out.append(order.order_no)
    return out
