"""SIGKILL the deliver run anywhere, run it again: nothing lost, repeats only where documented.

A child process runs one round of the chain (import, mails, confirmations, Amazon poll) and
kills itself with SIGKILL at a named crash point (core/crashpoints.py): between a side effect
and the commit that records it, in the middle of a transaction, between two steps. Another
variant kills it after a random (seeded) delay. Then the operator's schedule runs again in
the test process until nothing changes, and tests/stress/invariants.py checks the outcome.

What the documented rules allow after a kill, and what is counted:
- a mail the server took before its outcome was committed goes out again with the same
  Message-ID: at most (messages at the server) - (mails recorded sent) when the run died,
  and those are never more than the run's SMTP connections (one mail in flight on each);
- a portal told before its answer was committed is told again: eBay and Kaufland read back
  first and do not write twice, Hood ignores the repeat, Amazon gets the row in a second
  feed (never more feeds per row than ledger attempts), Rakuten refuses the repeat with 3710
  (the row ends `rejected [3710]` with attempts >= 2): at most as many rows as Rakuten held
  without the ledger knowing when the run died.

CI runs the subset CI_POINTS; LIEFERN_STRESS_SCALE=nightly runs every point.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from core.crashpoints import ENV_VARIABLE
from core.settings import Settings, reset_settings
from db.models import Confirmation, Parcel, ShippingMail, TrackingImport
from db.session import session_scope
from tests.stress import scale
from tests.stress.chain import (
    AMAZON_PROCESSING_SECONDS,
    BAD_TRACKING_ROWS,
    RoundLog,
    World,
    open_world,
    run_until_quiet,
)
from tests.stress.crash_child import TRACKING_FILE, run_child
from tests.stress.invariants import Facts, check, portal_holdings

SCALE = scale.current()
ALL_POINTS = (
    "import.batch_inserted:2",
    "import.batch_committed:1",
    "mails.prepared:1",
    "mails.before_attempted:1",
    "mails.attempted:1",
    "mails.result:1",
    "mails.result:12",
    "mails.flush:1",
    "mails.flushed:2",
    "mails.sent_all:1",
    "mails.prepared:3",
    "confirm.opening:1",
    "confirm.opened:1",
    "confirm.attempted.amazon:1",
    "confirm.attempted.hood:1",
    "confirm.submitted.amazon:1",
    "confirm.submitted.ebay:1",
    "confirm.submitted.kaufland:1",
    "confirm.submitted.hood:1",
    "confirm.submitted.rakuten:1",
    "confirm.recorded.kaufland:1",
    "confirm.polled.amazon:1",
    "confirm.poll_recorded.amazon:1",
)
CI_POINTS = (
    "import.batch_inserted:2",
    "mails.result:12",
    "mails.prepared:3",
    "confirm.submitted.amazon:1",
    "confirm.submitted.ebay:1",
    "confirm.polled.amazon:1",
)
POINTS = ALL_POINTS if SCALE.all_crash_points else CI_POINTS
WORLD_SEED = 5  # its orders cover all five portals and the shop (checked below)


@contextmanager
def crash_world(
    db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    with open_world(
        db_url,
        settings.home,
        orders=SCALE.crash_orders,
        seed=WORLD_SEED,
        unknown_share=0.0,
        rejected_recipients=1,
    ) as world:
        portals = {s.order["portal"] for s in world.samples}
        assert portals == {"amazon", "ebay", "kaufland", "hood", "rakuten", "shop"}, portals
        for name, value in world.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv(TRACKING_FILE, str(world.tracking_path))
        monkeypatch.delenv(ENV_VARIABLE, raising=False)
        reset_settings()
        yield world


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def mails_lost_in_flight(world: World) -> int:
    """Messages the server holds whose `sent` never reached the ledger: the repeat budget,
    at most one per SMTP connection of the killed run."""
    with session_scope(world.db_url) as session:
        recorded = session.scalar(select(func.count()).where(ShippingMail.status == "sent"))
    in_flight = len(world.smtp.messages) - int(recorded or 0)
    connections = int(world.env["LIEFERN_SMTP_CONNECTIONS"])
    assert in_flight <= connections, f"{in_flight} mails in flight on {connections} connections"
    return in_flight


def rakuten_lost_in_flight(world: World) -> int:
    """Parcels Rakuten holds whose `confirmed` never reached the ledger: after a kill the
    rerun repeats them, and Rakuten refuses each repeat with 3710 (documented)."""
    held = sum(portal_holdings(world)["rakuten"].values())
    with session_scope(world.db_url) as session:
        recorded = session.scalar(
            select(func.count()).where(
                Confirmation.portal == "rakuten", Confirmation.status == "confirmed"
            )
        )
    return held - int(recorded or 0)


def check_import(world: World) -> None:
    """Every good row of the tracking file is one parcel; the import ends done."""
    good_rows = world.tracking.decode().count("\n") - 1 - len(BAD_TRACKING_ROWS)
    with session_scope(world.db_url) as session:
        parcels = session.scalar(select(func.count()).select_from(Parcel))
        imports = list(session.scalars(select(TrackingImport)))
    assert parcels == good_rows
    assert [i.status for i in imports] == ["done"]
    assert imports[0].imported + imports[0].already_known == good_rows
    assert imports[0].rejected == len(BAD_TRACKING_ROWS)


def describe(facts: Facts, mails_in_flight: int) -> str:
    """The documented repeats of one run, for the summary in docs/reliability.md."""
    writes = ", ".join(
        f"{p} {facts.portal_writes[p]}/{facts.portal_entries[p]}"
        for p in sorted(facts.portal_writes)
    )
    return (
        f"{mails_in_flight} mails in flight, {facts.mail_copies} sent again; amazon rows in a "
        f"second feed {facts.amazon_feed_repeats}; rakuten repeats refused "
        f"{facts.rakuten_repeats_refused}; portal writes/parcels held: {writes}"
    )


def rerun_and_check(world: World, *, copies_allowed: int, rakuten_allowed: int) -> Facts:
    run_until_quiet(world.db_url, world.tracking, RoundLog())
    facts = check(
        world, mail_copies_allowed=copies_allowed, rakuten_repeats_allowed=rakuten_allowed
    )
    facts.assert_clean()
    assert facts.pending_with_reason == 0
    check_import(world)
    return facts


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_a_crash_point_then_rerun_loses_nothing(
    db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    with crash_world(db_url, settings, monkeypatch) as world:
        exit_code = run_child(child_env(**{ENV_VARIABLE: point}))
        assert exit_code == -signal.SIGKILL, f"{point} was never reached (exit {exit_code})"
        in_flight = mails_lost_in_flight(world)
        facts = rerun_and_check(
            world, copies_allowed=in_flight, rakuten_allowed=rakuten_lost_in_flight(world)
        )
    print(f"\ncrash {point} ({db_url.split(':')[0]}): {describe(facts, in_flight)}")


@pytest.mark.usefixtures("prefect_harness")
def test_deliver_flow_after_a_kill_between_mails_and_confirmations_tells_every_portal(
    db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every mail of the run is final, its confirmations never committed: the next scheduled
    deliver run finds no order to mail, and must still open and submit them."""
    from flows.confirm import poll_portals
    from flows.deliver import deliver

    with crash_world(db_url, settings, monkeypatch) as world:
        exit_code = run_child(child_env(**{ENV_VARIABLE: "confirm.opening:1"}))
        assert exit_code == -signal.SIGKILL
        in_flight = mails_lost_in_flight(world)
        asyncio.run(deliver())
        time.sleep(AMAZON_PROCESSING_SECONDS * 1.5)
        asyncio.run(poll_portals())
        facts = check(world, mail_copies_allowed=in_flight)
    facts.assert_clean()
    assert facts.pending_with_reason == 0


@pytest.mark.parametrize("run", range(SCALE.random_kills))
def test_killed_at_a_random_moment_then_rerun_loses_nothing(
    db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, run: int
) -> None:
    delay = random.Random(1000 + run).uniform(0.5, 2.5)
    with crash_world(db_url, settings, monkeypatch) as world:
        exit_code = run_child(child_env(), kill_after=delay)
        in_flight = mails_lost_in_flight(world)
        facts = rerun_and_check(
            world, copies_allowed=in_flight, rakuten_allowed=rakuten_lost_in_flight(world)
        )
    killed = "killed" if exit_code == -signal.SIGKILL else f"finished first (exit {exit_code})"
    print(f"\nrandom kill after {delay:.2f} s ({db_url.split(':')[0]}): {killed}; ", end="")
    print(describe(facts, in_flight))
    assert exit_code in (0, -signal.SIGKILL)
