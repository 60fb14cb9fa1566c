"""The run guard: named locks in the database, so that two runs for the same carrier never
overlap, however they were started (deployment, UI, CLI, a second worker)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import RunLock
from db.types import utcnow


@dataclass(frozen=True)
class Holder:
    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime


def try_acquire(session: Session, *, name: str, owner: str, ttl: timedelta) -> Holder | None:
    """Take the lock, or take over an expired one; returns the current holder when refused.

    Runs in its own short transaction (the caller's session is committed here)."""
    now = utcnow()
    taken = session.execute(
        update(RunLock)
        .where(RunLock.name == name, (RunLock.expires_at < now) | (RunLock.owner == owner))
        .values(owner=owner, acquired_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount:  # type: ignore[attr-defined]
        session.commit()
        return None
    try:
        with session.begin_nested():
            session.add(RunLock(name=name, owner=owner, acquired_at=now, expires_at=now + ttl))
        session.commit()
        return None
    except IntegrityError:
        session.rollback()
    row = session.get(RunLock, name)
    if row is None:  # released between our two statements: try once more
        return try_acquire(session, name=name, owner=owner, ttl=ttl)
    return Holder(row.name, row.owner, row.acquired_at, row.expires_at)


def refresh(session: Session, *, names: list[str], owner: str, ttl: timedelta) -> None:
    session.execute(
        update(RunLock)
        .where(RunLock.name.in_(names), RunLock.owner == owner)
        .values(expires_at=utcnow() + ttl)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, *, names: list[str], owner: str) -> None:
    session.execute(delete(RunLock).where(RunLock.name.in_(names), RunLock.owner == owner))


def holders(session: Session) -> list[Holder]:
    return [
        Holder(r.name, r.owner, r.acquired_at, r.expires_at)
        for r in session.scalars(select(RunLock).order_by(RunLock.name))
    ]
