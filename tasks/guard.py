"""The run guard: Prefect's deployment concurrency limit keeps runs of one deployment apart;
this database guard also covers runs started another way (CLI, another deployment, a second
worker or machine), for deliver runs per carrier and for confirmations per portal, and claims
single orders' mails so that runs of different carriers never both mail one order.

A run registers as an owner (host, pid, flow run) and a background thread beats for it every
`lock_heartbeat_seconds`, whatever the run is doing (a batch may take an hour on a slow relay).
An owner is dead when HEARTBEAT_MISSES beats are missing, or at once when it ran on this host
and its process is gone (kill -9); its locks and claims are then free to take.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta

from prefect.runtime import flow_run

from core.settings import get_settings
from db.queries.claims import (
    claim_free,
    claimed_orders,
    other_claimants,
    release_claims,
    take_over_claims,
)
from db.queries.locks import (
    Holder,
    OwnerInfo,
    beat,
    holder,
    owner_states,
    register_owner,
    release,
    take,
    this_host,
    unregister_owner,
)
from db.session import session_scope
from db.types import utcnow

HEARTBEAT_MISSES = 4  # an owner silent for this many heartbeats is dead
RETRY_SECONDS = 0.5

log = logging.getLogger("liefern.guard")


class RunOverlap(RuntimeError):
    """Another live run holds what this run needs: one line saying who, since when, and what
    to do (`hint`)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(f"{message}; {hint}")
        self.message, self.hint = message, hint


def heartbeat_interval() -> float:
    return get_settings().lock_heartbeat_seconds


def grace() -> timedelta:
    """How long an owner lives past its last heartbeat."""
    return timedelta(seconds=heartbeat_interval() * HEARTBEAT_MISSES)


def new_owner() -> OwnerInfo:
    """This run as an owner: a token of its own (two guards of one flow run stay apart)."""
    host, pid = this_host(), os.getpid()
    run_id = str(flow_run.id) if flow_run.id else None
    return OwnerInfo(
        f"{uuid.uuid4().hex[:12]}@{host[:100]}:{pid}",
        host,
        pid,
        run_id,
        flow_run.name if run_id else None,
    )


def _overlap(name: str, holder: Holder) -> RunOverlap:
    who = f"run {holder.run_name!r}" if holder.run_name else "another run"
    if holder.flow_run_id:
        who += f" (flow run {holder.flow_run_id})"
    where = f" on host {holder.host}, pid {holder.pid}," if holder.host else f" ({holder.owner})"
    message = f"{name} is held by {who}{where} since {holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC"
    if holder.heartbeat_at is not None:
        age = max(0, round((utcnow() - holder.heartbeat_at).total_seconds()))
        message += f" (alive {age} s ago)"
    if holder.flow_run_id:
        see = f"see it with `prefect flow-run inspect {holder.flow_run_id}`"
    elif holder.pid is not None:
        see = f"see it with `ps -p {holder.pid}` on {holder.host}"
    else:
        see = "it is listed in the run_locks table"
    hint = (
        "it is released when that run ends, or within "
        f"{grace().total_seconds():g} s if it died: wait for it and run again; {see}"
    )
    return RunOverlap(message, hint)


class _Heartbeat:
    """A daemon thread that keeps the owner alive until stopped, independent of the work."""

    def __init__(self, db_url: str, owner: OwnerInfo, names: list[str]) -> None:
        self.db_url, self.owner, self.names = db_url, owner, names
        self.lost: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat {owner.token}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(heartbeat_interval()):
            try:
                with session_scope(self.db_url) as session:
                    still = beat(session, token=self.owner.token, grace=grace())
            except Exception as error:  # a busy or unreachable database: the next beat tries
                log.warning("heartbeat of %s failed: %s", self.owner.token, error)
                continue
            lost = sorted(set(self.names) - set(still))
            if lost and lost != self.lost:  # only if we were silent longer than the grace
                log.error("%s lost %s to another run", self.owner.token, ", ".join(lost))
            self.lost = lost


class RunGuard:
    """The locks (names) and order claims of one live owner."""

    def __init__(self, db_url: str, owner: OwnerInfo) -> None:
        self.db_url, self.owner = db_url, owner
        self.names: list[str] = []
        self.heartbeat = _Heartbeat(db_url, owner, self.names)

    @property
    def token(self) -> str:
        return self.owner.token


@contextmanager
def owned(db_url: str) -> Iterator[RunGuard]:
    """Register a new owner with its heartbeat; on exit its locks and claims go with it."""
    guard = RunGuard(db_url, new_owner())
    with session_scope(db_url) as session:
        register_owner(session, owner=guard.owner, grace=grace())
    guard.heartbeat.start()
    try:
        yield guard
    finally:
        guard.heartbeat.stop()
        with session_scope(db_url) as session:
            release_claims(session, token=guard.token)
            unregister_owner(session, token=guard.token)


def _take(guard: RunGuard, name: str) -> Holder | None:
    with session_scope(guard.db_url) as session:
        return take(session, name=name, token=guard.token, grace=grace())


@contextmanager
def run_guard(db_url: str, names: list[str]) -> Iterator[RunGuard]:
    """Hold every named lock for the duration, or refuse at once (sorted: no deadlock)."""
    with owned(db_url) as guard:
        for name in sorted(set(names)):
            holder = _take(guard, name)
            if holder is not None:
                raise _overlap(name, holder)
            guard.names.append(name)
        yield guard


@asynccontextmanager
async def waiting_run_guard(
    db_url: str, names: list[str], *, wait_seconds: float
) -> AsyncIterator[RunGuard]:
    """The same, waiting up to `wait_seconds` for a held lock without blocking the loop."""
    with owned(db_url) as guard:
        for name in sorted(set(names)):
            deadline = time.monotonic() + wait_seconds
            while (holder := _take(guard, name)) is not None:
                if time.monotonic() >= deadline:
                    raise _overlap(name, holder)
                await asyncio.sleep(RETRY_SECONDS)
            guard.names.append(name)
        yield guard


def current_overlap(db_url: str, names: list[str]) -> RunOverlap | None:
    """The refusal a run needing `names` would get now (nothing is taken): lets a command
    answer before it starts a flow run. The guard itself still decides when the run starts."""
    with session_scope(db_url) as session:
        for name in sorted(set(names)):
            found = holder(session, name=name)
            if found is not None and not found.dead(utcnow()):
                return _overlap(name, found)
    return None


def claim_orders(db_url: str, *, order_ids: Sequence[int], token: str, carrier: str) -> set[int]:
    """Claim the pending shipping mails of these orders for `token`: those nobody holds and
    those of dead owners. Returns the orders whose mail this owner now sends."""
    with session_scope(db_url) as session:
        claim_free(session, order_ids=order_ids, token=token, carrier=carrier)
    with session_scope(db_url) as session:
        others = other_claimants(session, order_ids=order_ids, token=token)
        alive = owner_states(session, tokens=others)
    now = utcnow()
    for dead in [t for t in others if t not in alive or alive[t].dead(now)]:
        with session_scope(db_url) as session:
            take_over_claims(session, order_ids=order_ids, dead=dead, token=token, carrier=carrier)
    with session_scope(db_url) as session:
        return claimed_orders(session, order_ids=order_ids, token=token)


def release_orders(db_url: str, *, order_ids: Sequence[int], token: str) -> None:
    """The batch is done (its outcomes are committed): its orders are no longer ours."""
    with session_scope(db_url) as session:
        release_claims(session, token=token, order_ids=order_ids)


@contextmanager
def short_lock(db_url: str, name: str, *, wait_seconds: float, ttl: timedelta) -> Iterator[None]:
    """One named lock around a short step of this thread (it blocks while waiting), for
    every process and machine on the database. Each call is an owner of its own, so two
    threads of one process keep apart too; a holder that died loses it after `ttl`, or at
    once when it ran on this host."""
    owner = OwnerInfo(
        f"{uuid.uuid4().hex[:12]}@{this_host()[:100]}:{os.getpid()}", this_host(), os.getpid()
    )
    with session_scope(db_url) as session:
        register_owner(session, owner=owner, grace=ttl)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            with session_scope(db_url) as session:
                holder = take(session, name=name, token=owner.token, grace=ttl)
            if holder is None:
                break
            if time.monotonic() >= deadline:
                raise _overlap(name, holder)
            time.sleep(0.2)  # each try is a write transaction: not too often
        yield
    finally:
        with session_scope(db_url) as session:
            release(session, names=[name], owner=owner.token)
            unregister_owner(session, token=owner.token)
