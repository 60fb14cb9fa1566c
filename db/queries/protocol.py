"""An order's protocol: everything the store knows about it, as one timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.retention import ANONYMISED
from db.models import Order, ShippingMail
from db.queries.actions import actions_of_order
from db.queries.confirmations import confirmations_of_order
from db.queries.holds import releases_of_order
from db.queries.tracking import parcel_events

UNTRACKED = "without tracking number"  # a parcel's number where it has none

# the mail kinds of the ledger besides the shipping mail, as the protocol names them
MAIL_WORDS = {"corrected": "correction", "delay": "delay"}
MAIL_EVENTS = {"corrected": "correction_mail", "delay": "delay_mail"}


def _says(event: str, **values: Any) -> dict[str, Any]:
    """What an entry says as data (`event` + `values`), so the web pages can say it in the
    operator's language; `what` stays the English sentence of the CLI."""
    return {"event": event, "values": values}


def order_protocol(session: Session, *, order: Order) -> dict[str, Any]:
    mails: list[dict[str, Any]] = []
    confirmations: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = [
        {"at": order.created_at, "kind": "imported", "what": "order imported", **_says("imported")}
    ]
    for parcel in order.parcels:
        via = f"import {parcel.import_id}" if parcel.import_id else parcel.source
        number = parcel.tracking_number or UNTRACKED
        timeline.append(
            {
                "at": parcel.created_at,
                "kind": "parcel",
                "what": f"parcel {parcel.carrier} {number} added ({via})",
                **_says(
                    "parcel_added",
                    carrier=parcel.carrier,
                    number=parcel.tracking_number,
                    import_id=parcel.import_id,
                    source=parcel.source,
                ),
            }
        )
        if parcel.closed_at:
            timeline.append(
                {
                    "at": parcel.closed_at,
                    "kind": "closed",
                    "what": f"parcel {parcel.carrier} {number} in daily closing",
                    **_says("parcel_closed", carrier=parcel.carrier, number=parcel.tracking_number),
                }
            )
    if order.shipped_at:
        timeline.append(
            {
                "at": order.shipped_at,
                "kind": "shipped",
                "what": "marked shipped",
                **_says("shipped"),
            }
        )
    for mail in session.scalars(select(ShippingMail).where(ShippingMail.order_id == order.id)):
        mails.append(
            {
                # shipped; corrected (a tracking number corrected); delay (a parcel is late)
                "kind": mail.kind,
                "status": mail.status,
                "message_id": mail.message_id,
                "recipient": mail.recipient or ANONYMISED,  # blank: anonymised (retention)
                "carrier": mail.carrier,
                "reason": mail.reason,
                "attempts": mail.attempts,
                "at": mail.finished_at or mail.attempted_at or mail.created_at,
                "bounce_class": mail.bounce_class,  # core/bounces.py
                "bounced_at": mail.bounced_at,
                "last_reply": mail.last_reply,
            }
        )
        what = f"{MAIL_WORDS.get(mail.kind, 'shipping')} mail {mail.status}"
        what += (
            f" to {mail.recipient or ANONYMISED} (Message-ID {mail.message_id})"
            if mail.status == ("sent")
            else f": {mail.reason}"
            if mail.reason
            else ""
        )
        event = MAIL_EVENTS.get(mail.kind, "mail")
        said = _says(event, **{k: mails[-1][k] for k in ("status", "recipient", "message_id")})
        said["values"]["reason"] = mail.reason
        timeline.append({"at": mails[-1]["at"], "kind": "mail", "what": what, **said})
        if mail.bounced_at:  # a bounce that came after the mail went out
            reply = mail.last_reply or ""
            timeline.append(
                {
                    "at": mail.bounced_at,
                    "kind": "mail",
                    "what": f"shipping mail bounced ({mail.bounce_class or 'unclassified'}): "
                    + reply,
                    **_says("bounce", bounce_class=mail.bounce_class, reply=reply),
                }
            )
    parcels = {p.id: p for p in order.parcels}
    for c in confirmations_of_order(session, order_id=order.id):
        told = parcels.get(c.parcel_id)
        entry = {
            "portal": c.portal,
            "account": c.account,
            "status": c.status,
            "tracking_number": told.tracking_number if told else None,
            "reference": c.reference,
            "error_code": c.error_code,
            "error_text": c.error_text,
            "attempts": c.attempts,
            "at": c.finished_at or c.submitted_at or c.attempted_at or c.created_at,
        }
        confirmations.append(entry)
        what = f"{c.portal} confirmation {c.status}"
        if entry["tracking_number"]:
            what += f" for {entry['tracking_number']}"
        elif told:
            what += f" for the {told.carrier} parcel {UNTRACKED}"
        if c.reference:
            what += f" (ref {c.reference})"
        if c.error_text:
            what += f": {'[' + c.error_code + '] ' if c.error_code else ''}{c.error_text}"
        said = _says(
            "confirmation",
            portal=c.portal,
            status=c.status,
            number=entry["tracking_number"],
            carrier=told.carrier if told else None,
            reference=c.reference,
            error_code=c.error_code,
            error_text=c.error_text,
        )
        timeline.append({"at": entry["at"], "kind": "confirmation", "what": what, **said})
    releases = [
        {"portal": r.portal, "by": r.released_by, "reason": r.reason, "at": r.released_at}
        for r in releases_of_order(session, order_id=order.id)
    ]
    for r in releases:
        what = f"{r['portal']} confirmation released by {r['by']}: {r['reason']}"
        said = _says("release", portal=r["portal"], by=r["by"], reason=r["reason"])
        timeline.append({"at": r["at"], "kind": "release", "what": what, **said})
    actions = [
        {"action": a.action, "by": a.by, "detail": a.detail, "at": a.at}
        for a in actions_of_order(session, order_id=order.id)
    ]
    for a in actions:  # what an operator did by hand (tasks/actions.py), with who
        said = _says("action", action=a["action"], by=a["by"], detail=a["detail"])
        timeline.append(
            {"at": a["at"], "kind": "action", "what": f"{a['by']}: {a['detail']}", **said}
        )
    if order.arrived_at:
        by_carrier = (order.arrived_source or "").startswith("carrier:")
        # Amazon's package status is the marketplace's word, not a carrier's
        by_amazon = order.arrived_source == "carrier:amazon"
        event = "arrived_amazon" if by_amazon else "arrived_carrier" if by_carrier else "arrived"
        who = (
            "Amazon reported every parcel delivered"
            if by_amazon
            else "carrier reported every parcel delivered"
            if by_carrier
            else "buyer confirmed arrival"
        )
        timeline.append(
            {
                "at": order.arrived_at,
                "kind": "arrived",
                "what": f"{who} ({order.arrived_source})",
                **_says(event, source=order.arrived_source),
            }
        )
    if order.anonymised_at:
        timeline.append(
            {
                "at": order.anonymised_at,
                "kind": "anonymised",
                "what": "buyer data anonymised (retention period over)",
                **_says("anonymised"),
            }
        )
    events = parcel_events(session, parcel_ids=[p.id for p in order.parcels])
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
            "anonymised_at": order.anonymised_at,
        },
        "items": [
            {"item_id": i.item_id, "sku": i.sku, "title": i.title, "quantity": i.quantity}
            for i in order.items
        ],
        "parcels": [
            {
                "carrier": p.carrier,
                "tracking_number": p.tracking_number,
                "return_tracking_number": p.return_tracking_number,
                "ship_date": p.ship_date,
                "source": p.source,
                "closed_at": p.closed_at,
                # the delivery status (flows/track_parcels.py, webhooks), None: not asked yet
                "delivery_status": p.delivery_status,
                "status_source": p.status_source,
                "status_text": p.status_text,
                "first_scan_at": p.first_scan_at,
                "last_event_at": p.last_event_at,
                "expected_delivery": p.expected_delivery,
                "delivered_at": p.delivered_at,
                "events": [
                    {
                        "at": e.at,
                        "status": e.status,
                        "source": e.source,
                        "code": e.code,
                        "text": e.text,
                        "location": e.location,
                    }
                    for e in events
                    if e.parcel_id == p.id
                ],
            }
            for p in order.parcels
        ],
        "mails": mails,
        "confirmations": confirmations,
        "releases": releases,
        "actions": actions,
        "timeline": timeline,
    }
