"""The run guard's tables: run owners with their heartbeat, and named locks held by them.

A lock is held as long as its owner lives. An owner is dead when its heartbeat is older than
the grace it registered with, or, on this host, when its process is gone (a kill -9 is seen at
once). Every change of hands is a compare-and-set on the holder's token (UPDATE ... WHERE
owner = the token we saw dead): of two runs that both find a dead holder only one wins, on
SQLite (one writer at a time) and on PostgreSQL (the loser re-reads the row after the winner's
commit and no longer matches).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import RunLock, RunOwner
from db.types import utcnow

# owners dead for this long are removed when the next owner registers
FORGET_DEAD_OWNERS_AFTER = timedelta(days=1)


def this_host() -> str:
    return socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether a process of this host with `pid` still runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:  # Linux: a killed, unreaped child is "Z"
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@dataclass(frozen=True)
class OwnerInfo:
    """Who holds: a token unique per run, its host and process, its Prefect flow run."""

    token: str
    host: str
    pid: int | None
    flow_run_id: str | None = None
    run_name: str | None = None

    @classmethod
    def from_token(cls, token: str) -> OwnerInfo:
        """The host and pid from a token shaped `<id>@<host>:<pid>` (others: neither)."""
        _, at, place = token.rpartition("@")
        host, colon, pid = place.rpartition(":")
        if at and colon and pid.isdigit():
            return cls(token, host, int(pid))
        return cls(token, "", None)


@dataclass(frozen=True)
class Holder:
    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime  # the owner's heartbeat plus its grace
    host: str = ""
    pid: int | None = None
    flow_run_id: str | None = None
    run_name: str | None = None
    heartbeat_at: datetime | None = None
    registered: bool = True  # False: a lock of a run from before owners were recorded

    def dead(self, now: datetime) -> bool:
        if self.expires_at < now:
            return True
        return (
            self.registered
            and self.pid is not None
            and self.host == this_host()
            and not process_alive(self.pid)
        )


def register_owner(session: Session, *, owner: OwnerInfo, grace: timedelta) -> None:
    """Record the owner (or renew it) with a first heartbeat; commits."""
    now = utcnow()
    renewed = session.execute(
        update(RunOwner)
        .where(RunOwner.token == owner.token)
        .values(heartbeat_at=now, expires_at=now + grace)
        .execution_options(synchronize_session=False)
    )
    if not renewed.rowcount:  # type: ignore[attr-defined]
        session.execute(
            delete(RunOwner).where(RunOwner.expires_at < now - FORGET_DEAD_OWNERS_AFTER)
        )
        session.add(
            RunOwner(
                token=owner.token,
                host=owner.host[:255],
                pid=owner.pid,
                flow_run_id=owner.flow_run_id,
                run_name=(owner.run_name or None) and owner.run_name[:128],
                started_at=now,
                heartbeat_at=now,
                expires_at=now + grace,
            )
        )
    session.commit()


def beat(session: Session, *, token: str, grace: timedelta) -> list[str]:
    """The heartbeat: the owner lives on for `grace`; returns the lock names it still holds."""
    now = utcnow()
    session.execute(
        update(RunOwner)
        .where(RunOwner.token == token)
        .values(heartbeat_at=now, expires_at=now + grace)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(RunLock)
        .where(RunLock.owner == token)
        .values(expires_at=now + grace)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(select(RunLock.name).where(RunLock.owner == token)))


def unregister_owner(session: Session, *, token: str) -> None:
    """The run ended: its locks go with it."""
    session.execute(delete(RunLock).where(RunLock.owner == token))
    session.execute(delete(RunOwner).where(RunOwner.token == token))


def owner_states(session: Session, *, tokens: list[str]) -> dict[str, Holder]:
    """Each registered token's owner, as a holder of nothing in particular."""
    if not tokens:
        return {}
    rows = session.scalars(select(RunOwner).where(RunOwner.token.in_(tokens)))
    return {r.token: _holder("", r.token, r.started_at, r.expires_at, r) for r in rows}


def _holder(
    name: str, owner: str, acquired_at: datetime, expires_at: datetime, row: RunOwner | None
) -> Holder:
    if row is None:
        return Holder(name, owner, acquired_at, expires_at, registered=False)
    return Holder(
        name,
        owner,
        acquired_at,
        row.expires_at,
        row.host,
        row.pid,
        row.flow_run_id,
        row.run_name,
        row.heartbeat_at,
    )


def holder(session: Session, *, name: str) -> Holder | None:
    found = session.execute(
        select(RunLock, RunOwner)
        .outerjoin(RunOwner, RunOwner.token == RunLock.owner)
        .where(RunLock.name == name)
    ).one_or_none()
    if found is None:
        return None
    lock, owner = found
    return _holder(lock.name, lock.owner, lock.acquired_at, lock.expires_at, owner)


def take(session: Session, *, name: str, token: str, grace: timedelta) -> Holder | None:
    """Take the lock if it is free, already ours, or its holder is dead; else the holder.

    Commits each step on its own (the caller's session is committed here)."""
    seen: Holder | None = None
    for _ in range(3):  # the lock may change hands while we look: look again
        now = utcnow()
        mine = session.execute(
            update(RunLock)
            .where(RunLock.name == name, RunLock.owner == token)
            .values(expires_at=now + grace)
            .execution_options(synchronize_session=False)
        )
        if mine.rowcount:  # type: ignore[attr-defined]
            session.commit()
            return None
        try:
            with session.begin_nested():
                lock = RunLock(name=name, owner=token, acquired_at=now, expires_at=now + grace)
                session.add(lock)
            session.commit()
            return None
        except IntegrityError:
            session.rollback()
        seen = holder(session, name=name)
        if seen is None:  # released between our two statements
            continue
        if not seen.dead(now):
            session.commit()
            return seen
        taken = session.execute(
            update(RunLock)
            .where(RunLock.name == name, RunLock.owner == seen.owner)
            .values(owner=token, acquired_at=now, expires_at=now + grace)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if taken.rowcount:  # type: ignore[attr-defined]
            return None
    return seen


def try_acquire(session: Session, *, name: str, owner: str, ttl: timedelta) -> Holder | None:
    """Register `owner` (alive for `ttl`, host and pid read from its token) and take `name`."""
    register_owner(session, owner=OwnerInfo.from_token(owner), grace=ttl)
    return take(session, name=name, token=owner, grace=ttl)


def release(session: Session, *, names: list[str], owner: str) -> None:
    session.execute(delete(RunLock).where(RunLock.name.in_(names), RunLock.owner == owner))


def holders(session: Session) -> list[Holder]:
    rows = session.execute(
        select(RunLock, RunOwner)
        .outerjoin(RunOwner, RunOwner.token == RunLock.owner)
        .order_by(RunLock.name)
    )
    return [_holder(lk.name, lk.owner, lk.acquired_at, lk.expires_at, ow) for lk, ow in rows]
