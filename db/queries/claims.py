"""Per-order claims on the shipping-mail ledger: which live run is sending an order's mail.

Runs of different carriers hold different locks (`deliver:dpd`, `deliver:dhl`) but may pick
the same order (one parcel of each); the claim on the order's ledger row decides which one
mails it. A claim is one conditional UPDATE that only matches a row that is unclaimed (or
claimed by the owner we saw dead), so of two runs only one can win each row, on SQLite and on
PostgreSQL (a waiting UPDATE re-checks the row after the other's commit).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import ShippingMail
from db.queries._keys import in_keys


def insert_missing_mail_rows(session: Session, *, rows: Sequence[dict[str, object]]) -> None:
    """New ledger rows; a row another run inserted meanwhile stays as it is."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = (
        postgresql.insert(ShippingMail).on_conflict_do_nothing()
        if dialect == "postgresql"
        else sqlite.insert(ShippingMail).on_conflict_do_nothing()
        if dialect == "sqlite"
        else insert(ShippingMail)
    )
    session.connection().execute(statement, list(rows))


def _open_rows(session: Session, order_ids: Sequence[int], kind: str) -> list[object]:
    return [
        in_keys(session, ShippingMail.order_id, order_ids),
        ShippingMail.kind == kind,
        ShippingMail.status == "pending",
    ]


def claim_free(
    session: Session, *, order_ids: Sequence[int], token: str, carrier: str, kind: str = "shipped"
) -> None:
    """Claim the pending rows nobody holds (or we hold already); the carrier is the sender's."""
    if order_ids:
        session.execute(
            update(ShippingMail)
            .where(
                *_open_rows(session, order_ids, kind),  # type: ignore[arg-type]
                (ShippingMail.claimed_by.is_(None)) | (ShippingMail.claimed_by == token),
            )
            .values(claimed_by=token, carrier=carrier)
            .execution_options(synchronize_session=False)
        )


def other_claimants(
    session: Session, *, order_ids: Sequence[int], token: str, kind: str = "shipped"
) -> list[str]:
    """The other owners holding pending rows of these orders."""
    if not order_ids:
        return []
    statement = (
        select(ShippingMail.claimed_by)
        .where(
            *_open_rows(session, order_ids, kind),  # type: ignore[arg-type]
            ShippingMail.claimed_by.is_not(None),
            ShippingMail.claimed_by != token,
        )
        .distinct()
    )
    return [t for t in session.scalars(statement) if t is not None]


def take_over_claims(
    session: Session,
    *,
    order_ids: Sequence[int],
    dead: str,
    token: str,
    carrier: str,
    kind: str = "shipped",
) -> None:
    """Claim the pending rows of a dead owner (only while that owner still holds them)."""
    session.execute(
        update(ShippingMail)
        .where(*_open_rows(session, order_ids, kind), ShippingMail.claimed_by == dead)  # type: ignore[arg-type]
        .values(claimed_by=token, carrier=carrier)
        .execution_options(synchronize_session=False)
    )


def claimed_orders(
    session: Session, *, order_ids: Sequence[int], token: str, kind: str = "shipped"
) -> set[int]:
    if not order_ids:
        return set()
    statement = select(ShippingMail.order_id).where(
        in_keys(session, ShippingMail.order_id, order_ids),
        ShippingMail.kind == kind,
        ShippingMail.claimed_by == token,
    )
    return set(session.scalars(statement))


def release_claims(session: Session, *, token: str, order_ids: Sequence[int] = ()) -> None:
    """Give up the owner's claims (of these orders, or all of them)."""
    statement = update(ShippingMail).where(ShippingMail.claimed_by == token)
    if order_ids:
        statement = statement.where(in_keys(session, ShippingMail.order_id, order_ids))
    session.execute(statement.values(claimed_by=None).execution_options(synchronize_session=False))
