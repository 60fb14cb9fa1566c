"""Correcting a tracking number after it went out, or removing a parcel added by mistake.

The parcel's row takes the new number (its confirmations hang off it by id); the old number,
who changed it and when go into the order's action log. Then whoever holds the old number is
told, where that is possible:

- the portals (PORTAL_CORRECTIONS): a portal whose API takes a further shipment message (eBay;
  Amazon for a package told by confirmShipment, see AMAZON_EDIT) gets the parcel's
  confirmation reopened and submitted again with the new number, and so does
  any portal that rejected the old one or never answered; the others get a protocol line
  saying what to change by hand in the portal's seller centre;
- the buyer, when the shipping mail with the old number went out: a short correction mail
  (templates/mails/corrected.*), unless the account's mail policy suppresses our mails. It has
  its own row in the mail ledger (kind `corrected`, committed before and after sending); a
  further correction reopens that row with a new Message-ID.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from connectors.smtp.message import check_address, make_message_id
from core.accounts import Accounts
from core.carriers.numbers import normalise_tracking_number
from core.mail_render import MailRenderer
from core.settings import Settings, get_settings
from db.models import Confirmation, Order, Parcel
from db.queries.actions import add_action, reopen_confirmation, reopen_mail
from db.queries.claims import insert_missing_mail_rows
from db.queries.confirmations import confirmation_counts
from db.queries.mails import mail_rows
from db.queries.orders import get_order
from db.session import session_scope
from db.types import utcnow
from tasks.actions import UNKNOWN, ActionResult, OrderOutcome, submit_portals
from tasks.ledgered_mail import LedgeredMail, send_through_ledger
from tasks.mails import MailComposer, mail_context


@dataclass(frozen=True)
class PortalCorrection:
    """How a corrected tracking number reaches a portal that already has the old one."""

    resubmit: bool  # True: the confirmation is submitted again with the new number
    note: str  # what happens there (resubmit), or what the operator does by hand


# vendor facts, from the specs in ../shared/specs and the connectors' READMEs
PORTAL_CORRECTIONS = {
    "amazon": PortalCorrection(
        False,
        "Amazon documents no way to change a package confirmed by order feed (a further feed "
        "message with another tracking number is a second package, refused with error 18021 "
        "once the items are out): edit it by hand in Seller Central (Manage Orders › the order "
        "› Edit shipment)",
    ),
    "ebay": PortalCorrection(
        True,
        "eBay gets a further shipping fulfillment with the new number; its Fulfillment API "
        "cannot change or delete one, so remove the old number by hand in eBay's Seller Hub "
        "if the buyer must not see it",
    ),
    "kaufland": PortalCorrection(
        False, "change it by hand in Kaufland's seller centre (Bestellungen › Sendungsdaten)"
    ),
    "hood": PortalCorrection(False, "change it by hand in Hood's seller centre (Auftragsliste)"),
    "rakuten": PortalCorrection(False, "change it by hand in Rakuten's seller centre"),
    # OTTO's Shipments API v1 corrects a shipment only by adding position items to it
    # (connectors/otto/README.md); a second shipment with the new number would be refused
    # with 409, as its position items are SENT already
    "otto": PortalCorrection(
        False,
        "OTTO's Shipments API cannot change a reported shipment's tracking number: change it "
        "by hand in OTTO Partner Connect (or ask OTTO's partner support)",
    ),
}
# Amazon's SP-API docs, "Confirm the shipment status" (developer-docs.amazon.com/sp-api/docs/
# confirm-the-shipment-status): "If you need to make an edit to the shipment, submit another
# confirmShipment operation with the same packageReferenceID". Our packageReferenceId is the
# ledger row's id (connectors/amazon/mapping.py), so a package told by confirmShipment is
# edited by telling the same row again, while the account still confirms that way.
AMAZON_EDIT = PortalCorrection(
    True,
    "Amazon gets confirmShipment again with the package's packageReferenceId, which edits "
    "its tracking number",
)
TOLD = ("submitted", "confirmed", "rejected", "failed")  # the portal may have the old number
NOT_TAKEN = ("rejected", "failed")  # the portal refused or never answered: simply told again


async def correct_tracking(
    db_url: str,
    *,
    order_no: str,
    old: str,
    new: str,
    by: str,
    carrier: str | None = None,
    settings: Settings | None = None,
) -> ActionResult:
    """Replace a parcel's tracking number (and carrier, when given); tell the portals and the
    buyer. Run again, it finds the new number in place and only sends a correction mail that
    did not go yet (the mail server was down)."""
    settings = settings or get_settings()
    result = ActionResult()
    with session_scope(db_url) as session:
        order = get_order(session, order_no=order_no)
        if order is None:
            result.orders.append(OrderOutcome(order_no, "unknown", UNKNOWN, True))
            return result
        order_id, order_no = order.id, order.order_no
        parcel = _parcel(order, old)
        if parcel is None:
            if _parcel(order, new, carrier) is None:
                result.orders.append(_no_parcel(order, old))
                return result
            result.orders.append(
                OrderOutcome(order_no, "already_corrected", f"{new} is in place already")
            )
            waiting = mail_rows(session, order_ids=[order_id], kind="corrected").get(order_id)
            if waiting is None or waiting.status != "pending":
                return result
            before = old  # its correction mail did not go yet: now
        else:
            replaced = _replace(
                session, order, parcel, new=new, carrier=carrier, by=by, settings=settings
            )
            if isinstance(replaced, OrderOutcome):
                result.orders.append(replaced)
                return result
            before, after, manual = replaced
            result.orders.append(OrderOutcome(order_no, "corrected", f"{before} → {after}"))
            result.orders += [OrderOutcome(order_no, "by_hand", m, True) for m in manual]
    if parcel is not None:
        await submit_portals(db_url, settings=settings, result=result)
    result.orders.append(
        await send_correction(
            db_url, order_id=order_id, old_number=before, removed=False, by=by, settings=settings
        )
    )
    with session_scope(db_url) as session:
        result.confirmations = confirmation_counts(session, order_ids=[order_id])
    return result


def _replace(
    session: Session,
    order: Order,
    parcel: Parcel,
    *,
    new: str,
    carrier: str | None,
    by: str,
    settings: Settings,
) -> OrderOutcome | tuple[str, str, list[str]]:
    """The parcel's new number in place and logged, its portals reopened or named; (before,
    after, the portals to change by hand), or why not."""
    code = carrier or parcel.carrier
    number = normalise_tracking_number(code, new)  # TrackingNumberError: the caller's
    taken = session.scalar(
        select(Order.order_no)
        .join(Parcel, Parcel.order_id == Order.id)
        .where(Parcel.carrier == code, Parcel.tracking_number == number)
    )
    if taken is not None:
        return OrderOutcome(
            order.order_no,
            "number_taken",
            f"{code} {number} is already a parcel of order {taken}",
            True,
        )
    before, after = f"{parcel.carrier} {parcel.tracking_number}", f"{code} {number}"
    session.execute(
        update(Parcel).where(Parcel.id == parcel.id).values(carrier=code, tracking_number=number)
    )
    add_action(
        session,
        order_id=order.id,
        action="tracking_correct",
        by=by,
        detail=f"parcel {before} corrected to {after}",
        at=utcnow(),
    )
    manual = _tell_portals(
        session, order, parcel.id, by=by, what=f"{before} → {after}", settings=settings
    )
    return before, after, manual


async def remove_tracking(
    db_url: str, *, order_no: str, number: str, by: str, settings: Settings | None = None
) -> ActionResult:
    """Remove a parcel added to the wrong order. Only while no portal was told of it: a portal
    that has the number keeps it (none of their APIs takes a shipment back), so the operator
    removes it there first and is told so."""
    settings = settings or get_settings()
    result = ActionResult()
    with session_scope(db_url) as session:
        order = get_order(session, order_no=order_no)
        if order is None:
            result.orders.append(OrderOutcome(order_no, "unknown", UNKNOWN, True))
            return result
        parcel = _parcel(order, number)
        if parcel is None:
            result.orders.append(
                OrderOutcome(order.order_no, "already_removed", f"no parcel {number} (any more)")
            )
            return result
        rows = list(
            session.scalars(select(Confirmation).where(Confirmation.parcel_id == parcel.id))
        )
        told = sorted({r.portal for r in rows if r.status in TOLD})
        if told:
            result.orders.append(
                OrderOutcome(
                    order.order_no,
                    "told_already",
                    f"{', '.join(told)} has the number {parcel.tracking_number} already and "
                    "cannot be asked to forget it: remove it by hand in the seller centre, or "
                    "correct it with `liefern tracking correct`",
                    True,
                )
            )
            return result
        before = f"{parcel.carrier} {parcel.tracking_number}"
        session.execute(delete(Confirmation).where(Confirmation.parcel_id == parcel.id))
        session.execute(delete(Parcel).where(Parcel.id == parcel.id))
        add_action(
            session,
            order_id=order.id,
            action="tracking_remove",
            by=by,
            detail=f"parcel {before} removed",
            at=utcnow(),
        )
        order_id, order_no = order.id, order.order_no
    result.orders.append(OrderOutcome(order_no, "removed", f"parcel {before} removed"))
    result.orders.append(
        await send_correction(
            db_url, order_id=order_id, old_number=before, removed=True, by=by, settings=settings
        )
    )
    return result


def _parcel(order: Order, number: str, carrier: str | None = None) -> Parcel | None:
    wanted = "".join(number.split()).upper()
    for parcel in order.parcels:
        if (parcel.tracking_number or "").upper() == wanted and carrier in (None, parcel.carrier):
            return parcel
    return None


def _no_parcel(order: Order, number: str) -> OrderOutcome:
    known = ", ".join(f"{p.carrier} {p.tracking_number}" for p in order.parcels) or "none"
    return OrderOutcome(
        order.order_no,
        "no_parcel",
        f"no parcel {number} on this order (its parcels: {known})",
        True,
    )


def _amazon_package(row: Confirmation, order: Order, settings: Settings) -> bool:
    """Told by confirmShipment (its reference is the order id, a feed's is the feed id), and
    the account confirms that way still: the correction goes out by confirmShipment too."""
    options = Accounts.load(settings.accounts_path).options("amazon", row.account)
    return (
        row.status == "confirmed"
        and row.reference == order.portal_order_id
        and options.mode == "confirm_shipment"
    )


def _tell_portals(
    session: Session, order: Order, parcel_id: int, *, by: str, what: str, settings: Settings
) -> list[str]:
    """Reopen the parcel's confirmations on portals that take a correction; the others' lines."""
    manual = []
    rows = session.scalars(
        select(Confirmation).where(
            Confirmation.parcel_id == parcel_id, Confirmation.status.in_(TOLD)
        )
    )
    for row in rows:
        way = PORTAL_CORRECTIONS.get(row.portal, PortalCorrection(False, "change it by hand"))
        if row.portal == "amazon" and _amazon_package(row, order, settings):
            way = AMAZON_EDIT
        if row.status in NOT_TAKEN:
            way = PortalCorrection(True, f"{row.portal} did not take the old number: told anew")
        if way.resubmit:
            reason = f"tracking number corrected by {by} ({what}): {way.note}"
            reopen_confirmation(session, row_id=row.id, was=row.status, reason=reason)
            detail = f"{row.portal}: {way.note}"
        else:
            detail = f"{row.portal} has the old number, not possible on this portal: {way.note}"
            manual.append(detail)
        add_action(
            session, order_id=order.id, action="tracking_portal", by=by, detail=detail, at=utcnow()
        )
    return manual


async def send_correction(
    db_url: str, *, order_id: int, old_number: str, removed: bool, by: str, settings: Settings
) -> OrderOutcome:
    """The buyer's correction mail, when the shipping mail with the old number went out."""
    accounts = Accounts.load(settings.accounts_path)
    with session_scope(db_url) as session:
        order = session.get(Order, order_id)
        assert order is not None
        order_no = order.order_no
        shipped = mail_rows(session, order_ids=[order_id]).get(order_id)
        if shipped is None or shipped.status != "sent":
            return OrderOutcome(
                order_no,
                "no_correction_mail",
                "no correction mail: the buyer never got the old number",
            )
        options = accounts.options(order.portal, order.portal_account)
        if not options.sends_mail:
            return OrderOutcome(
                order_no,
                "correction_suppressed",
                f"correction mail suppressed: {options.suppress_reason}",
            )
        composer = MailComposer(settings, accounts, shipped.carrier)
        composer.renderer = MailRenderer(
            settings.templates_dir or settings.home / "templates", kind="corrected"
        )
        row = mail_rows(session, order_ids=[order_id], kind="corrected").get(order_id)
        count = (row.attempts + 1) if row is not None else 1
        message_id = make_message_id(f"{order_no}.corrected.{count}", composer.domain)
        if row is None:
            insert_missing_mail_rows(
                session,
                rows=[
                    {
                        "order_id": order_id,
                        "kind": "corrected",
                        "status": "pending",
                        "carrier": shipped.carrier,
                        "message_id": message_id,
                        "recipient": order.buyer_email,
                        "language": composer.language(order),
                        "reason": f"correction by {by}",
                        "attempts": 0,
                        "created_at": utcnow(),
                    }
                ],
            )
        elif row.status != "pending":
            reopen_mail(
                session,
                mail_id=row.id,
                was=row.status,
                reason=f"correction by {by}",
                message_id=message_id,
            )
        row = mail_rows(session, order_ids=[order_id], kind="corrected")[order_id]
        language = composer.language(order)
        context = mail_context(order, settings, language)
        context["correction"] = {"old_number": old_number.split(" ", 1)[-1], "removed": removed}
        rendered = composer.renderer.render(
            context, portal=order.portal, carrier=shipped.carrier, language=language
        )
        mail = composer.build(order, str(row.id), rendered, row.message_id)
        check_address(order.buyer_email, "to_address")
        mail_id, message_id = row.id, row.message_id
    [sent] = await send_through_ledger(db_url, [LedgeredMail(mail, mail_id)], settings)
    status = sent.status
    if status == "sent":
        return OrderOutcome(
            order_no, "correction_sent", f"correction mail sent (Message-ID {message_id})"
        )
    return OrderOutcome(
        order_no, "correction_" + status, f"correction mail {status}: {sent.reply}", True
    )
