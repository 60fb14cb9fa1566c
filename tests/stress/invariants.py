"""The promises checked after every stress run, with exact counts.

Mails: every order with a parcel has one ledger row, and it is final: `sent` (the server holds
a message with its Message-ID), `suppressed` (the server holds none) or `failed` (with the
server's own reply). A second copy of a Message-ID at the server is allowed only for the
documented "unknown" case (the answer after DATA was lost, or the run died before the outcome
was committed): the row then shows it (attempts >= 2, or the reply says the mail went again),
and the copies add up to no more than the faults or kills that could cause them.

Confirmations: one ledger row per (order, portal, parcel), none left `submitted` and none
`pending` without an error text; what each portal simulator holds is exactly what the ledger
calls `confirmed`, every parcel at most once; orders a portal does not know end `rejected` in
the portal's words; Amazon never got a row in more feeds than the ledger counts attempts.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from lxml import etree
from sqlalchemy import select

from db.models import Confirmation, Order, Parcel, ShippingMail
from db.session import session_scope
from tests.stress.chain import World
from tests.stress.faults import Targets

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)
_SMTP_REPLY = re.compile(r"^[245]\d\d ")
RESENT_MARKS = ("no answer after DATA", "sent again, same Message-ID")
FINAL_CONFIRMATION = frozenset({"confirmed", "rejected", "failed", "skipped"})


@dataclass
class Facts:
    """Measured outcome of a run: the numbers docs/reliability.md quotes."""

    orders: int = 0
    parcels: int = 0
    mails: Counter[str] = field(default_factory=Counter)
    server_messages: int = 0
    mail_copies: int = 0  # server messages beyond one per Message-ID (documented repeats)
    confirmations: dict[str, Counter[str]] = field(default_factory=dict)
    portal_entries: Counter[str] = field(default_factory=Counter)  # parcels each portal holds
    portal_writes: Counter[str] = field(default_factory=Counter)  # change requests per portal
    amazon_feed_repeats: int = 0  # a row in a second (third ...) feed
    rakuten_repeats_refused: int = 0  # documented: a lost answer repeated across runs
    pending_with_reason: int = 0
    problems: list[str] = field(default_factory=list)

    def require(self, condition: bool, message: str) -> None:
        if not condition:
            self.problems.append(message)

    def assert_clean(self) -> None:
        shown = "\n  ".join(self.problems[:25])
        more = f"\n  ... and {len(self.problems) - 25} more" if len(self.problems) > 25 else ""
        assert not self.problems, f"{len(self.problems)} broken promises:\n  {shown}{more}"


@dataclass(frozen=True)
class _Row:
    order_no: str
    portal: str
    portal_order_id: str
    tracking_number: str
    status: str
    attempts: int
    error_code: str | None
    error_text: str | None


def check(
    world: World,
    *,
    mail_copies_allowed: int,
    rakuten_repeats_allowed: int = 0,
) -> Facts:
    """Every promise of the module docstring; the facts come back, broken ones in .problems."""
    facts = Facts()
    _check_mails(world, facts, mail_copies_allowed)
    _check_confirmations(world, facts, rakuten_repeats_allowed)
    return facts


# --- mails --------------------------------------------------------------------------------------


def _check_mails(world: World, facts: Facts, copies_allowed: int) -> None:
    with session_scope(world.db_url) as session:
        orders = session.execute(select(Order.id, Order.order_no, Order.buyer_email)).all()
        with_parcels = set(session.scalars(select(Parcel.order_id).distinct()))
        mails = {m.order_id: m for m in session.scalars(select(ShippingMail))}
        facts.parcels = len(list(session.scalars(select(Parcel.id))))
    facts.orders = len(orders)
    received: Counter[str] = Counter()
    recipients: dict[str, set[str]] = defaultdict(set)
    for _sender, to, data in list(world.smtp.messages):
        found = _MESSAGE_ID.search(data.split(b"\r\n\r\n", 1)[0])
        message_id = found.group(1).decode() if found else "<none>"
        received[message_id] += 1
        recipients[message_id].update(to)
    facts.server_messages = sum(received.values())
    known_ids = {m.message_id for m in mails.values()}
    facts.require(
        set(received) <= known_ids,
        f"server holds messages no ledger row knows: {sorted(set(received) - known_ids)[:5]}",
    )
    copies = 0
    for order_id, order_no, email in orders:
        row = mails.get(order_id)
        if order_id not in with_parcels:
            facts.require(row is None, f"{order_no}: mail row without a parcel")
            continue
        if row is None:
            facts.problems.append(f"{order_no}: has parcels, no mail row")
            continue
        facts.mails[row.status] += 1
        count = received.get(row.message_id, 0)
        if row.status == "sent":
            facts.require(count >= 1, f"{order_no}: ledger says sent, server has no message")
            facts.require(
                recipients[row.message_id] == {email},
                f"{order_no}: sent to {recipients[row.message_id]}, buyer is {email}",
            )
        elif row.status == "suppressed":
            facts.require(count == 0, f"{order_no}: suppressed, yet {count} message(s) went out")
        elif row.status == "failed":
            reply = row.last_reply or ""
            facts.require(
                bool(_SMTP_REPLY.match(reply)),
                f"{order_no}: failed without the server's reply ({reply!r})",
            )
            if email in world.rejected_recipients:
                facts.require(reply.startswith("550"), f"{order_no}: refused address, {reply!r}")
        else:
            facts.problems.append(f"{order_no}: mail left {row.status} ({row.reason})")
        extra = count - (1 if row.status == "sent" else 0)
        if extra > 0:
            copies += extra
            explained = row.attempts >= 2 or any(m in (row.last_reply or "") for m in RESENT_MARKS)
            facts.require(
                explained,
                f"{order_no}: {count} copies, but the ledger shows no unknown outcome "
                f"(attempts {row.attempts}, reply {row.last_reply!r})",
            )
        if email in world.rejected_recipients:
            facts.require(row.status == "failed", f"{order_no}: refused address ended {row.status}")
    facts.mail_copies = copies
    facts.require(
        copies <= copies_allowed,
        f"{copies} repeated mails, but only {copies_allowed} lost answers could cause repeats",
    )


# --- confirmations ------------------------------------------------------------------------------


def _ledger_rows(world: World) -> list[_Row]:
    with session_scope(world.db_url) as session:
        rows = session.execute(
            select(Confirmation, Order.order_no, Order.portal_order_id, Parcel.tracking_number)
            .join(Order, Order.id == Confirmation.order_id)
            .join(Parcel, Parcel.id == Confirmation.parcel_id)
        ).all()
    return [
        _Row(
            no,
            c.portal,
            portal_id,
            number,
            c.status,
            c.attempts,
            c.error_code,
            c.error_text,
        )
        for c, no, portal_id, number in rows
    ]


def _expected_rows(world: World) -> set[tuple[str, str]]:
    """(order_no, tracking number) of every parcel of an order that has a portal to tell."""
    with session_scope(world.db_url) as session:
        return {
            (no, number)
            for no, number in session.execute(
                select(Order.order_no, Parcel.tracking_number)
                .join(Parcel, Parcel.order_id == Order.id)
                .where(Order.portal != "shop")
            )
        }


def portal_holdings(world: World) -> dict[str, Counter[tuple[str, str]]]:
    """(portal order id, tracking number) -> times the portal simulator holds it."""
    targets = Targets(world.smtp, world.portals)
    held: dict[str, Counter[tuple[str, str]]] = {p: Counter() for p in _PORTALS}
    amazon = targets.amazon
    with amazon.lock:
        for order_id, fulfillments in amazon.fulfillments.items():
            for f in fulfillments:
                held["amazon"][(order_id, f.tracking_number)] += 1
    for sample in world.samples:
        order = sample.order
        if order["order_no"] in world.unknown_to_portals:
            continue
        portal, order_id = order["portal"], order["portal_order_id"]
        if portal == "ebay":
            for f in targets.ebay.fulfillments(order_id):
                held["ebay"][(order_id, f["shipmentTrackingNumber"])] += 1
        elif portal == "kaufland":
            # every unit of the order carries the order's parcels; a number twice on one unit
            # counts twice, units that disagree show up as a number held by some units only
            units = [targets.kaufland.unit(int(str(i["item_id"]))) for i in sample.items]
            merged: Counter[str] = Counter()
            for unit in units:
                merged |= Counter(
                    [*unit.tracking_numbers, *(s["tracking_number"] for s in unit.shipments)]
                )
            for number, times in merged.items():
                on_all = all(
                    number in unit.tracking_numbers
                    or any(s["tracking_number"] == number for s in unit.shipments)
                    for unit in units
                )
                held["kaufland"][(order_id, number if on_all else f"{number} (some units)")] += (
                    times
                )
        elif portal == "hood":
            for number in targets.hood.orders[order_id].tracking_codes:
                held["hood"][(order_id, number)] += 1
        elif portal == "rakuten":
            for shipment in targets.rakuten.orders[order_id].shipments:
                held["rakuten"][(order_id, shipment.tracking_number)] += 1
    return held


_PORTALS = ("amazon", "ebay", "kaufland", "hood", "rakuten")


def _amazon_feed_messages(world: World) -> Counter[tuple[str, str]]:
    """(Amazon order id, tracking number) -> feeds that carried it."""
    sim = Targets(world.smtp, world.portals).amazon
    with sim.lock:
        feed_ids = list(sim.feeds)
    carried: Counter[tuple[str, str]] = Counter()
    for feed_id in feed_ids:
        try:
            document = sim.uploaded_feed(feed_id)
        except LookupError:
            continue
        root = etree.fromstring(document, etree.XMLParser(resolve_entities=False))
        for fulfillment in root.iter("OrderFulfillment"):
            carried[
                (
                    fulfillment.findtext("AmazonOrderID") or "",
                    fulfillment.findtext("FulfillmentData/ShipperTrackingNumber") or "",
                )
            ] += 1
    return carried


def _check_confirmations(world: World, facts: Facts, rakuten_allowed: int) -> None:
    rows = _ledger_rows(world)
    expected = _expected_rows(world)
    got = Counter((r.order_no, r.tracking_number) for r in rows)
    facts.require(
        set(got) == expected and all(n == 1 for n in got.values()),
        f"confirmation rows: {len(expected - set(got))} parcels without a row, "
        f"{sum(1 for n in got.values() if n > 1)} with several",
    )
    held = portal_holdings(world)
    mails = _mail_statuses(world)
    by_portal: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_portal[row.portal].append(row)
        facts.confirmations.setdefault(row.portal, Counter())[row.status] += 1
        _check_row_status(row, world, facts, mails.get(row.order_no))
    for portal in _PORTALS:
        confirmed = Counter(
            (r.portal_order_id, r.tracking_number)
            for r in by_portal[portal]
            if r.status == "confirmed"
        )
        holding = held[portal]
        facts.portal_entries[portal] = sum(holding.values())
        twice = [key for key, n in holding.items() if n > 1]
        facts.require(not twice, f"{portal} holds parcels more than once: {twice[:5]}")
        missing = set(confirmed) - set(holding)
        facts.require(
            not missing, f"{portal}: ledger confirmed, portal lacks {sorted(missing)[:5]}"
        )
        unrecorded = set(holding) - set(confirmed)
        if portal == "rakuten":
            documented = {
                (r.portal_order_id, r.tracking_number)
                for r in by_portal[portal]
                if r.status == "rejected" and r.error_code == "3710" and r.attempts >= 2
            }
            facts.rakuten_repeats_refused = len(unrecorded & documented)
            unrecorded -= documented
        facts.require(
            not unrecorded,
            f"{portal} holds parcels the ledger does not call confirmed: {sorted(unrecorded)[:5]}",
        )
    facts.require(
        facts.rakuten_repeats_refused <= rakuten_allowed,
        f"{facts.rakuten_repeats_refused} Rakuten rows refused after a repeat "
        f"(allowed: {rakuten_allowed})",
    )
    attempts = {(r.portal_order_id, r.tracking_number): r.attempts for r in by_portal["amazon"]}
    for key, feeds in _amazon_feed_messages(world).items():
        facts.amazon_feed_repeats += feeds - 1
        facts.require(
            feeds <= attempts.get(key, 0),
            f"amazon: {key} went out in {feeds} feeds, the ledger counts "
            f"{attempts.get(key, 0)} attempts",
        )
    _count_writes(world, facts)


def _mail_statuses(world: World) -> dict[str, str]:
    with session_scope(world.db_url) as session:
        rows = session.execute(
            select(Order.order_no, ShippingMail.status).join(
                ShippingMail, ShippingMail.order_id == Order.id
            )
        ).all()
    return {no: status for no, status in rows}


def _check_row_status(row: _Row, world: World, facts: Facts, mail: str | None) -> None:
    label = f"{row.portal} {row.order_no} {row.tracking_number}"
    # the default confirm_after (mail_settled): a portal never hears of an order whose mail
    # failed, and only such an order waits
    if mail == "failed":
        facts.require(row.status in ("held", "skipped"), f"{label}: told although the mail failed")
    if row.status == "held":
        facts.require(
            mail == "failed" and row.error_code == "mail_failed" and bool(row.error_text),
            f"{label}: held ({row.error_code}) although its mail is {mail}",
        )
    elif row.status == "submitted":
        facts.problems.append(f"{label}: left submitted")
    elif row.status == "pending":
        if row.error_text:
            facts.pending_with_reason += 1
        else:
            facts.problems.append(f"{label}: left pending without a reason")
    elif row.status in ("rejected", "failed"):
        facts.require(bool(row.error_text), f"{label}: {row.status} without the portal's words")
    else:
        facts.require(row.status in FINAL_CONFIRMATION, f"{label}: unknown status {row.status}")
    if row.order_no in world.unknown_to_portals and row.status not in ("skipped", "held"):
        facts.require(
            row.status == "rejected" and bool(row.error_code),
            f"{label}: the portal does not know the order, row is {row.status} "
            f"({row.error_code}: {row.error_text})",
        )


def _count_writes(world: World, facts: Facts) -> None:
    targets = Targets(world.smtp, world.portals)
    facts.portal_writes["amazon"] = targets.amazon.count("createFeed", 202)
    facts.portal_writes["ebay"] = targets.ebay.count("POST")
    facts.portal_writes["kaufland"] = targets.kaufland.count("PATCH") + targets.kaufland.count(
        "POST", "/shipments"
    )
    facts.portal_writes["hood"] = targets.hood.requests
    facts.portal_writes["rakuten"] = targets.rakuten.requests
