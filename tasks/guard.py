"""The run guard: Prefect's deployment concurrency limit keeps runs of one deployment apart;
this database guard also covers runs started another way (CLI, another deployment, a second
worker or machine), for deliver runs per carrier and for confirmations per portal.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from prefect.runtime import flow_run

from db.queries.locks import refresh, release, try_acquire
from db.session import session_scope

LOCK_TTL = timedelta(minutes=15)


class RunOverlap(RuntimeError):
    pass


def run_owner() -> str:
    run_id = flow_run.id or "no-run"
    return f"{run_id}@{socket.gethostname()}:{os.getpid()}"[:128]


@contextmanager
def run_guard(db_url: str, names: list[str]) -> Iterator[RunGuard]:
    """Hold every named lock for the duration, or refuse to start (names sorted: no deadlock)."""
    owner = run_owner()
    held: list[str] = []
    try:
        for name in sorted(set(names)):
            with session_scope(db_url) as session:
                holder = try_acquire(session, name=name, owner=owner, ttl=LOCK_TTL)
            if holder is not None:
                raise RunOverlap(
                    f"another run holds {name} since {holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC "
                    f"({holder.owner}); it is released when that run ends, or expires at "
                    f"{holder.expires_at:%H:%M:%S} UTC if that run died"
                )
            held.append(name)
        yield RunGuard(db_url, held, owner)
    finally:
        if held:
            with session_scope(db_url) as session:
                release(session, names=held, owner=owner)


class RunGuard:
    def __init__(self, db_url: str, names: list[str], owner: str) -> None:
        self.db_url, self.names, self.owner = db_url, names, owner

    def keep_alive(self) -> None:
        """Called between batches: a long run keeps its locks, a dead one loses them."""
        with session_scope(self.db_url) as session:
            refresh(session, names=self.names, owner=self.owner, ttl=LOCK_TTL)
