"""An order's protocol: everything the store knows about it, as one timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from db.models import Order


def order_protocol(session: Session, *, order: Order) -> dict[str, Any]:
    timeline: list[dict[str, Any]] = [
        {"at": order.created_at, "kind": "imported", "what": "order imported"}
    ]
    for parcel in order.parcels:
        via = f"import {parcel.import_id}" if parcel.import_id else parcel.source
        timeline.append(
            {
                "at": parcel.created_at,
                "kind": "parcel",
                "what": f"parcel {parcel.carrier} {parcel.tracking_number} added ({via})",
            }
        )
        if parcel.closed_at:
            timeline.append(
                {
                    "at": parcel.closed_at,
                    "kind": "closed",
                    "what": f"parcel {parcel.tracking_number} in daily closing",
                }
            )
    if order.shipped_at:
        timeline.append({"at": order.shipped_at, "kind": "shipped", "what": "marked shipped"})
    if order.arrived_at:
        timeline.append(
            {
                "at": order.arrived_at,
                "kind": "arrived",
                "what": f"buyer confirmed arrival ({order.arrived_source})",
            }
        )
    timeline.sort(key=lambda e: e["at"])
    return {
        "order": {
            "order_no": order.order_no,
            "portal": order.portal,
            "portal_account": order.portal_account,
            "portal_order_id": order.portal_order_id,
            "buyer_name": order.buyer_name,
            "buyer_email": order.buyer_email,
            "country": order.country,
            "language": order.language,
            "status": order.status,
            "shipped_at": order.shipped_at,
            "arrived_at": order.arrived_at,
        },
        "items": [
            {"item_id": i.item_id, "sku": i.sku, "title": i.title, "quantity": i.quantity}
            for i in order.items
        ],
        "parcels": [
            {
                "carrier": p.carrier,
                "tracking_number": p.tracking_number,
                "ship_date": p.ship_date,
                "source": p.source,
                "closed_at": p.closed_at,
            }
            for p in order.parcels
        ],
        "timeline": timeline,
    }
