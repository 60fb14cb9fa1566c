"""Late bounces applied to the mail ledger: the shipping mail turns `failed` with its class.

A DSN names the original Message-ID, which every ledger row keeps (a resend reuses it), so
the mail is found without guessing. Applying the same DSN twice changes nothing the second
time (the row already says so). A bounced mail then counts as failed for the confirmation
gate (core/confirmation_gate.py): where an account waits for the mail (`confirm_after`), its
confirmations opened from now on are held, and those opened but not yet sent are held too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from core.accounts import Accounts
from core.confirmation_gate import MailState, hold_for
from core.dsn import Bounce
from db.models import Confirmation, Order, ShippingMail
from db.queries.holds import released_pairs
from db.session import session_scope
from db.types import utcnow


@dataclass
class BounceReport:
    counts: Counter[str] = field(default_factory=Counter)
    # per DSN recipient: source, message_id, order_no, outcome, class, diagnostic
    items: list[dict[str, Any]] = field(default_factory=list)


def apply_bounces(db_url: str, bounces: Iterable[Bounce], *, accounts: Accounts) -> BounceReport:
    report = BounceReport()
    now = utcnow()
    with session_scope(db_url) as session:
        for bounce in bounces:
            item: dict[str, Any] = {
                "source": bounce.source,
                "message_id": bounce.message_id,
                "recipient": bounce.recipient,
                "action": bounce.action,
                "bounce_class": bounce.bounce_class,
                "diagnostic": bounce.diagnostic,
                "order_no": None,
            }
            report.items.append(item)
            found = (
                session.execute(
                    select(ShippingMail, Order)
                    .join(Order, Order.id == ShippingMail.order_id)
                    .where(ShippingMail.message_id == bounce.message_id)
                ).first()
                if bounce.message_id
                else None
            )
            if found is None:
                item["outcome"] = "not_ours"  # no mail of ours has this Message-ID
            else:
                mail, order = found
                item["order_no"] = order.order_no
                item["outcome"] = _apply(session, mail, order, bounce, accounts, now)
            report.counts[item["outcome"]] += 1
    return report


def _apply(
    session: Any, mail: ShippingMail, order: Order, bounce: Bounce, accounts: Accounts, now: Any
) -> str:
    if bounce.action != "failed":
        return "not_final"  # delayed, relayed, delivered: the relay is still at it
    reply = bounce.diagnostic[:500]
    if mail.status == "failed" and (mail.bounce_class, mail.last_reply) == (
        bounce.bounce_class,
        reply,
    ):
        return "already_applied"
    mail.status = "failed"
    mail.bounce_class = bounce.bounce_class
    mail.last_reply = reply
    mail.reason = f"bounced: {reply}"[:500]
    mail.bounced_at = now
    mail.not_before = None
    if mail.kind == "shipped":
        _hold_unsent_confirmations(session, order, mail, accounts)
    return "bounced"


def _hold_unsent_confirmations(
    session: Any, order: Order, mail: ShippingMail, accounts: Accounts
) -> None:
    """Confirmations opened while the mail looked sent, not told to the portal yet: the gate
    decides again with the mail failed (an operator's release still lets them go)."""
    rows = session.scalars(
        select(Confirmation).where(
            Confirmation.order_id == order.id, Confirmation.status == "pending"
        )
    )
    released = released_pairs(session, order_ids=[order.id])
    for row in rows:
        hold = hold_for(
            accounts.options(row.portal, row.account),
            order_no=order.order_no,
            mail=MailState(mail.status, mail.reason),
            released=(order.id, row.portal) in released,
        )
        if hold is not None:
            row.status, row.error_code, row.error_text = "held", hold.code, hold.text[:1000]
