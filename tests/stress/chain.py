"""The deliver chain as an operator's schedule runs it, with the plain functions (no Prefect).

A world is a store full of sample orders for all five portals and the shop, a tracking file for
them, a fault-injecting SMTP server and every portal simulator on loopback, configured through
an accounts file and credential variables exactly as an operator would configure the real ones.

A round is what the scheduled flows do (flows/deliver.py, then flows/confirm.py): import the
tracking file, send the shipping mails carrier group by carrier group in batches, open and
submit the portal confirmations, wait for Amazon, poll it and resubmit what came back pending.
`run_until_quiet` repeats rounds until the ledgers stop changing.

Everything here runs in the test process and in the child processes of the crash tests, so it
uses no pytest machinery.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import func, select

from core.accounts import PORTAL_DEFAULTS, Accounts
from core.archive import sha256_of
from core.clock import business_today
from core.orders_file import read_orders_file
from core.settings import get_settings
from core.tracking_csv import read_tracking_file
from db.models import Confirmation, ShippingMail
from db.queries.confirmations import orders_missing_confirmations, portals_with
from db.queries.imports import claim_import, create_import, finish_import, latest_import_for_file
from db.queries.mails import orders_to_mail
from db.session import session_scope
from db.types import utcnow
from simulators.samples import (
    SampleOrder,
    generate_orders,
    orders_csv,
    sample_tracking_number,
    tracking_csv,
)
from simulators.smtp import FaultySmtpServer
from simulators.stack import PortalStack, portal_orders_from_store
from tasks.confirmations import open_confirmations, poll_submitted, submit_pending
from tasks.holds import release_held
from tasks.mails import send_shipping_mails
from tasks.orders import store_orders
from tasks.parcels import BatchOutcome
from tasks.tracking_import import import_rows

AMAZON_PROCESSING_SECONDS = 0.2
SMTP_TIMEOUT_SECONDS = 2.0
MAIL_BATCH = 100
IMPORT_BATCHES = 8  # a tracking file is imported in about this many batches (at least 20 rows)

# Rows every tracking file of a world ends with: each must be reported, none imported.
# (order, carrier, number, expected code); {first}: the first order, {valid}: a good DHL number,
# {typo}: that number with its check digit off by one.
BAD_TRACKING_ROWS = (
    ("AU999999", "dhl", "{valid}", "order_not_found"),
    ("{first}", "dhl", "{typo}", "bad_check_digit"),
    ("{first}", "dpd", "3,40434E+17", "scientific_notation"),
    ("{first}", "zeppelin", "123", "carrier_unknown"),
    ("", "dhl", "{valid}", "order_missing"),
)


@dataclass
class World:
    """One stress world; `env` holds the settings and credentials a run needs."""

    db_url: str
    home: Path
    smtp: FaultySmtpServer
    portals: PortalStack
    samples: list[SampleOrder]
    tracking: bytes
    unknown_to_portals: frozenset[str]  # order numbers the portals never heard of
    rejected_recipients: frozenset[str]  # buyer addresses the SMTP server refuses (550)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def tracking_path(self) -> Path:
        return self.home / "tracking.csv"


def _tracking_file(samples: list[SampleOrder], seed: int) -> bytes:
    data = tracking_csv(samples, seed=seed).decode()
    valid = sample_tracking_number("dhl", random.Random(seed + 99))
    values = {
        "first": samples[0].order["order_no"],
        "valid": valid,
        "typo": valid[:-1] + str((int(valid[-1]) + 1) % 10),
    }
    bad = "".join(
        f"{ref.format(**values)};{carrier};{number.format(**values)};\n"
        for ref, carrier, number, _ in BAD_TRACKING_ROWS
    )
    return (data + bad).encode()


@contextmanager
def open_world(
    db_url: str,
    home: Path,
    *,
    orders: int,
    seed: int = 1,
    unknown_share: float = 0.02,
    rejected_recipients: int = 3,
    smtp_timeout: float = SMTP_TIMEOUT_SECONDS,
    smtp_auth: tuple[str, str] | None = None,
) -> Iterator[World]:
    """Store `orders` sample orders, start the SMTP server and the portals, write the config.

    The orders are stored, their tracking file is written to `home` but not imported: that is
    the first step of a round. A few orders stay unknown to their portal (each must end
    `rejected` with the portal's words), a few buyers' addresses are refused by the SMTP server
    (each mail must end `failed` with the server's reply)."""
    rng = random.Random(seed)
    samples = list(generate_orders(orders, seed=seed))
    with session_scope(db_url) as session:
        store_orders(session, parsed=read_orders_file(orders_csv(samples)))
    confirmable = [s for s in samples if s.order["portal"] not in ("shop",)]
    unknown = frozenset(
        s.order["order_no"]
        for s in rng.sample(confirmable, k=int(len(confirmable) * unknown_share))
    )
    # only buyers we mail can be refused (Amazon and Kaufland mail theirs themselves)
    mailed = [s for s in samples if PORTAL_DEFAULTS[s.order["portal"]].sends_mail]
    refused = frozenset(
        s.order["buyer_email"] for s in rng.sample(mailed, k=min(rejected_recipients, len(mailed)))
    )
    tracking = _tracking_file(samples, seed)
    home.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        smtp = stack.enter_context(FaultySmtpServer(auth=smtp_auth))
        for address in refused:
            smtp.reject_recipient(address)
        portals = stack.enter_context(
            PortalStack(amazon_processing_seconds=AMAZON_PROCESSING_SECONDS)
        )
        unknown_ids = {
            s.order["portal_order_id"] for s in samples if s.order["order_no"] in unknown
        }
        portals.seed(
            o for o in portal_orders_from_store(db_url) if o.portal_order_id not in unknown_ids
        )
        accounts = home / "accounts.toml"
        accounts.write_text(portals.accounts_toml(rakuten=True), encoding="utf-8")
        world = World(db_url, home, smtp, portals, samples, tracking, unknown, refused)
        world.tracking_path.write_bytes(tracking)
        login = (
            f"{quote(smtp_auth[0], safe='')}:{quote(smtp_auth[1], safe='')}@" if smtp_auth else ""
        )
        world.env = {
            **portals.environment(),
            "LIEFERN_ACCOUNTS_FILE": str(accounts),
            "LIEFERN_SMTP_URL": f"smtp://{login}127.0.0.1:{smtp.port}",
            "LIEFERN_SMTP_CONNECTIONS": "4",
            "LIEFERN_SMTP_BACKOFF_SECONDS": "0.05",
            "LIEFERN_SMTP_TIMEOUT_SECONDS": str(smtp_timeout),
            # a mail left waiting for the mail server is due again in the next round
            "LIEFERN_SMTP_RETRY_WAIT_SECONDS": "0",
            # a feed still unanswered after Amazon's processing time counts as stuck: the
            # driver only polls once that time has passed (see `poll_round`)
            "LIEFERN_FEED_STUCK_MINUTES": "0",
        }
        yield world


# --- one round ----------------------------------------------------------------------------------


@dataclass
class RoundLog:
    """What the rounds reported, summed (the report counters of the tasks)."""

    rounds: int = 0
    mails: Counter[str] = field(default_factory=Counter)
    confirmations: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    import_rejected: int = 0


def import_tracking(db_url: str, data: bytes) -> int:
    """Import a tracking file batch by batch; an import left `running` by a dead run resumes."""
    table = read_tracking_file(data)
    digest = sha256_of(data)
    with session_scope(db_url) as session:
        previous = latest_import_for_file(session, sha256=digest)
        if previous is not None and previous.status == "done":
            return previous.id
        if previous is not None:
            import_id = previous.id
            claim_import(session, import_id=import_id, flow_run_id=None)
        else:
            import_id = create_import(
                session,
                file_name="tracking.csv",
                sha256=digest,
                archive_path="",
                file_format=None,
                carrier=None,
                source="stress",
            )
    total = BatchOutcome()
    frame = table.frame
    batch_rows = max(20, len(frame) // IMPORT_BATCHES)
    for start in range(0, len(frame), batch_rows):
        total.add(
            import_rows(
                db_url,
                import_id=import_id,
                frame=frame.iloc[start : start + batch_rows],
                headers=table.headers,
                preset=table.preset,
                carrier=None,
                today=business_today(),
                source="import",
            )
        )
    with session_scope(db_url) as session:
        finish_import(
            session,
            import_id=import_id,
            rows=len(frame),
            imported=total.imported,
            already_known=total.already_known,
            rejected=len(total.problems),
        )
    return import_id


def _carrier_groups(db_url: str) -> list[str]:
    from tasks.ledger import waiting_carriers

    return waiting_carriers(db_url, None)


def _confirmation_candidates(db_url: str, mailed: set[int], started: datetime) -> list[int]:
    """The orders flows/deliver.py opens confirmations for: those it mailed, and those a run
    that died between its mails and its confirmations left behind."""
    with session_scope(db_url) as session:
        left_behind = orders_missing_confirmations(session, mailed_before=started)
    return sorted(mailed | set(left_behind))


async def deliver_round(db_url: str, log: RoundLog, *, batch_size: int = MAIL_BATCH) -> None:
    """flows/deliver.py: mails per carrier group in batches, then the portals."""
    started = utcnow()
    seen: set[int] = set()
    for carrier in _carrier_groups(db_url):
        with session_scope(db_url) as session:
            ids = [i for i in orders_to_mail(session, carriers=[carrier]) if i not in seen]
        seen.update(ids)
        for start in range(0, len(ids), batch_size):
            report = await send_shipping_mails(
                db_url, order_ids=ids[start : start + batch_size], carrier=carrier
            )
            log.mails.update(report.counts)
    candidates = _confirmation_candidates(db_url, seen, started)
    if candidates:
        settings = get_settings()
        open_confirmations(
            db_url,
            order_ids=candidates,
            accounts=Accounts.load(settings.accounts_path),
            run_id=None,
        )
    await submit_all(db_url, log)


async def submit_all(db_url: str, log: RoundLog) -> None:
    """flows/confirm.py `submit_all`: every portal with pending rows, side by side."""
    with session_scope(db_url) as session:
        portals = portals_with(session, status="pending")
    reports = await asyncio.gather(
        *(submit_pending(db_url, portal=portal, run_id=None) for portal in portals)
    )
    for report in reports:
        log.confirmations.update(report.counts)
        log.errors += report.errors


async def poll_round(db_url: str, log: RoundLog) -> None:
    """flows/confirm.py `poll_portals`: poll what is submitted, release what no longer waits for
    its mail, then resubmit what is pending.

    Polls only after Amazon's processing time, so that with LIEFERN_FEED_STUCK_MINUTES=0 only
    feeds that really hang count as stuck."""
    await asyncio.sleep(AMAZON_PROCESSING_SECONDS * 1.5)
    with session_scope(db_url) as session:
        portals = portals_with(session, status="submitted")
    reports = await asyncio.gather(*(poll_submitted(db_url, portal=p) for p in portals))
    for report in reports:
        log.confirmations.update(report.counts)
        log.errors += report.errors
    release_held(db_url, accounts=Accounts.load(get_settings().accounts_path))
    await submit_all(db_url, log)


async def one_round(db_url: str, tracking: bytes, log: RoundLog) -> None:
    """Import (a no-op once done), deliver, poll: one pass of the operator's schedule."""
    import_tracking(db_url, tracking)
    await deliver_round(db_url, log)
    await poll_round(db_url, log)
    log.rounds += 1


def ledger_state(db_url: str) -> tuple[tuple[object, ...], ...]:
    """Every ledger row's (status, attempts): two equal states mean the round changed nothing."""
    with session_scope(db_url) as session:
        mails = session.execute(
            select(ShippingMail.id, ShippingMail.status, ShippingMail.attempts).order_by(
                ShippingMail.id
            )
        ).all()
        confirmations = session.execute(
            select(Confirmation.id, Confirmation.status, Confirmation.attempts).order_by(
                Confirmation.id
            )
        ).all()
    return tuple(tuple(r) for r in (*mails, *confirmations))


def open_work(db_url: str) -> int:
    """Ledger rows a further round would still work on."""
    with session_scope(db_url) as session:
        mails = session.scalar(select(func.count()).where(ShippingMail.status == "pending"))
        confirmations = session.scalar(
            select(func.count()).where(Confirmation.status.in_(("pending", "submitted")))
        )
    return int(mails or 0) + int(confirmations or 0)


def run_until_quiet(
    db_url: str, tracking: bytes, log: RoundLog, *, max_rounds: int = 12
) -> RoundLog:
    """Rounds until no ledger row is open any more, or a round changes nothing."""
    before = ledger_state(db_url)
    for _ in range(max_rounds):
        asyncio.run(one_round(db_url, tracking, log))
        after = ledger_state(db_url)
        if open_work(db_url) == 0 or after == before:
            break
        before = after
    return log
