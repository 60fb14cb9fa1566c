"""Daily closing (Tagesabschluss) of one carrier and day, step by step.

    load_day             the day's parcels of the carrier (ship date = day), read in batches
    close_with_dhl       DHL: POST /manifests with the open parcels' numbers, batch by batch;
                         "closed" and "already closed" (DHL's warning) mark them closed here,
                         errors leave them open and say why
    close_in_store       every other carrier: the open parcels are marked closed here
    fetch_dhl_manifest   DHL's manifest PDF of the day (GET /manifests?date=)
    write_shipping_list  our own list (PDF to print, CSV for Excel) of the day's parcels
    reconcile_day        imported vs closed vs mailed vs confirmed, one sentence per mismatch

Each step is a plain function; the flow (flows/close_day.py) runs their thin task wrappers
through `TASK_STEPS`, tests run them directly through `PLAIN_STEPS`.

Closing again is harmless: closed parcels are never sent to DHL again, files are rewritten only
when the day's list changed, and DHL answers a repeated closing with a warning, not an error.

DHL's shipment numbers are the 18-digit form (the spec's `shipmentNo` examples), which is how
the store keeps DHL numbers (a `00` + SSCC label number is stored without the `00`); they are
sent unchanged. Answers are matched back after the same normalisation, so a `00` prefix in an
answer would still find its parcel.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.dhl_parcel.auth import auth_for
from connectors.dhl_parcel.connector import DhlParcelClient
from connectors.dhl_parcel.mapping import DEFAULT_PROFILE, ManifestItem, server_url
from connectors.errors import ConnectorError
from core.accounts import AccountOptions
from core.carriers.numbers import TrackingNumberError, normalise_tracking_number
from core.carriers.table import CARRIERS
from core.mail_waits import is_waiting
from core.shipping_list import ShippingListRow, render_csv, render_pdf
from db.queries.closing import (
    ConfirmationFact,
    DayParcel,
    MailFact,
    confirmation_facts,
    day_parcels,
    mail_facts,
    mark_parcels_closed,
)
from db.session import session_scope
from db.types import utcnow
from flows.results import DhlShipment
from tasks.retry_rule import retry_if_it_helps

DHL = DhlParcelClient.carrier  # the one carrier with a closing connector
BATCH = 5_000  # parcels per database read and per DHL step (DHL itself takes 30 per call)

CLOSINGS_DIR = "closings"
LIST_PDF = "shipping-list.pdf"
LIST_CSV = "shipping-list.csv"
DHL_MANIFEST = "dhl-manifest.pdf"

# Confirmation statuses that need nothing more: told, or not to be told by policy.
CONFIRMATION_DONE = frozenset({"confirmed", "skipped"})


# --- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DhlOptions:
    """How to close with DHL; no secrets: the client reads them when it opens (from_account)."""

    account: AccountOptions
    close_all: bool = False  # POST /manifests?all=true instead of the day's numbers
    profile: str = DEFAULT_PROFILE
    billing_number: str | None = None


def carrier_options(accounts_path: Path, carrier: str) -> dict[str, Any]:
    """`[carriers.<code>]` of the accounts file: no secrets, only how to close."""
    if not accounts_path.exists():
        return {}
    data = tomllib.loads(accounts_path.read_text(encoding="utf-8"))
    table = data.get("carriers", {}).get(carrier, {})
    return dict(table) if isinstance(table, dict) else {}


def dhl_options(accounts_path: Path) -> DhlOptions:
    """`[carriers.dhl]` of the accounts file, the server overridden by LIEFERN_DHL_BASE_URL.

    Raises AuthError (MissingCredentials) when credentials are missing, ValueError for an
    unusable option: both before anything is closed."""
    options = carrier_options(accounts_path, DHL)
    close_all = options.get("close_all", False)
    if not isinstance(close_all, bool):
        raise ValueError("close_all under [carriers.dhl] must be true or false")
    billing = options.get("billing_number")
    timeout = options.get("timeout_seconds")
    account = AccountOptions(
        DHL,
        "",
        base_url=server_url(os.environ.get("LIEFERN_DHL_BASE_URL") or options.get("base_url")),
        extra={"timeout_seconds": str(timeout)} if timeout is not None else {},
    )
    auth_for(account.account)  # missing credentials stop the run here, with their names
    return DhlOptions(
        account=account,
        close_all=close_all,
        profile=str(options.get("profile") or DEFAULT_PROFILE),
        billing_number=str(billing) if billing else None,
    )


def closing_folder(carrier: str, day: date) -> str:
    """Where a day's documents live, relative to LIEFERN_HOME."""
    return f"{CLOSINGS_DIR}/{carrier}/{day.isoformat()}"


def _write(home: Path, relative: str, data: bytes) -> None:
    """Atomically: a reader never sees half a PDF."""
    path = home / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)


# --- 1. the day's parcels ---------------------------------------------------------------------


def load_day(db_url: str, *, carrier: str, day: date, batch: int = BATCH) -> list[DayParcel]:
    """Every parcel of the carrier shipped on `day` (orders not cancelled), in batches."""
    parcels: list[DayParcel] = []
    after = 0
    while True:
        with session_scope(db_url) as session:
            chunk = day_parcels(session, carrier=carrier, day=day, after_id=after, limit=batch)
        parcels += chunk
        if len(chunk) < batch:
            return parcels
        after = chunk[-1].parcel_id


# --- 2. closing -----------------------------------------------------------------------------------


def close_in_store(db_url: str, *, parcel_ids: Sequence[int], batch: int = BATCH) -> int:
    """Carriers without a closing API: handing over is closing; returns how many changed."""
    changed = 0
    now = utcnow()
    for start in range(0, len(parcel_ids), batch):
        with session_scope(db_url) as session:
            changed += mark_parcels_closed(
                session, parcel_ids=parcel_ids[start : start + batch], at=now
            )
    return changed


@dataclass
class CarrierStep:
    """What closing with the carrier did; `problems` says why a parcel is still open."""

    sent: int = 0
    newly_closed: int = 0
    items: list[DhlShipment] = field(default_factory=list)  # DHL's word per shipment
    problems: dict[int, str] = field(default_factory=dict)  # parcel id -> sentence
    unresolved: list[int] = field(default_factory=list)  # all=true: not in DHL's answer
    not_in_store: list[str] = field(default_factory=list)  # closed at DHL, unknown here


def dhl_key(number: str) -> str:
    """The number as the store keeps it, for matching DHL's answers to parcels."""
    try:
        return normalise_tracking_number(DHL, number)
    except TrackingNumberError:
        return number.strip().upper()


def dhl_problem(item: ManifestItem) -> str:
    """The operator's sentence for a shipment DHL did not close."""
    said = ": ".join(part for part in (item.title, item.detail) if part)
    if item.status_code == 404 or item.title.lower() in ("not found", "nicht gefunden"):
        return f"parcel not known to DHL ({said})" if said else "parcel not known to DHL"
    return f"not closed: DHL reported an error ({said or 'no reason given'})"


def _client(options: DhlOptions) -> DhlParcelClient:
    return DhlParcelClient.from_account(options.account)


def _apply(
    db_url: str,
    step: CarrierStep,
    items: Sequence[ManifestItem],
    by_key: Mapping[str, DayParcel],
) -> set[str]:
    """Record DHL's answer and mark what it closed; returns the keys it mentioned."""
    to_close: list[int] = []
    mentioned: set[str] = set()
    for item in items:
        key = dhl_key(item.shipment_no)
        mentioned.add(key)
        parcel = by_key.get(key)
        step.items.append(
            DhlShipment(
                shipment_no=item.shipment_no,
                order_no=parcel.order_no if parcel else None,
                status=item.status,
                title=item.title,
                detail=item.detail,
            )
        )
        if parcel is None:
            if item.status != "error":
                step.not_in_store.append(item.shipment_no)
        elif item.status == "error":
            step.problems[parcel.parcel_id] = dhl_problem(item)
        else:
            to_close.append(parcel.parcel_id)
    with session_scope(db_url) as session:
        step.newly_closed += mark_parcels_closed(session, parcel_ids=to_close, at=utcnow())
    return mentioned


async def close_with_dhl(
    db_url: str,
    *,
    parcels: Sequence[DayParcel],
    options: DhlOptions,
    batch: int = BATCH,
) -> CarrierStep:
    """Close the open parcels at DHL; each batch is recorded before the next one goes out.

    Refused credentials and trouble that outlasts the client's retries raise (connector
    errors); what earlier batches closed stays closed, and a rerun only sends the rest."""
    step = CarrierStep(sent=len(parcels))
    by_key = {dhl_key(p.tracking_number): p for p in parcels if p.tracking_number}
    async with _client(options) as dhl:
        if options.close_all:
            result = await dhl.close_day(
                None, profile=options.profile, billing_number=options.billing_number
            )
            mentioned = _apply(db_url, step, result.items, by_key)
            step.unresolved = [p.parcel_id for k, p in by_key.items() if k not in mentioned]
            return step
        for start in range(0, len(parcels), batch):
            chunk = parcels[start : start + batch]
            result = await dhl.close_day(
                [p.tracking_number for p in chunk if p.tracking_number],
                profile=options.profile,
                billing_number=options.billing_number,
            )
            _apply(db_url, step, result.items, by_key)
    return step


@dataclass
class ManifestStep:
    path: str  # relative to LIEFERN_HOME
    sheets: str = ""  # DHL's billing number -> sheet number, as printed
    shipments: int = 0  # on DHL's manifest of the day
    newly_closed: int = 0  # all=true: found on the manifest, closed earlier by DHL
    problems: dict[int, str] = field(default_factory=dict)


async def fetch_dhl_manifest(
    db_url: str,
    *,
    home: Path,
    day: date,
    parcels: Sequence[DayParcel],
    unresolved: Sequence[int],
    options: DhlOptions,
) -> ManifestStep:
    """Store DHL's manifest PDF of the day and compare its shipments with our parcels.

    With ?all=true DHL only reports what it closed in that call; a parcel it did not mention
    is closed if it is on the day's manifest (DHL closed it earlier), else DHL does not know it.
    """
    async with _client(options) as dhl:
        document = await dhl.fetch_manifest(day, billing_number=options.billing_number)
    if not document.pdf:
        raise ConnectorError(f"DHL returned no manifest PDF for {day:%Y-%m-%d}")
    folder = closing_folder(DHL, day)
    path = f"{folder}/{DHL_MANIFEST}"
    _write(home, path, document.pdf)
    for number, extra in enumerate(document.extra_pdfs, start=2):
        _write(home, f"{folder}/dhl-manifest-{number}.pdf", extra)
    step = ManifestStep(
        path=path,
        sheets=", ".join(f"{s.billing_number}: {s.sheet_no}" for s in document.sheets),
        shipments=len(document.items),
    )
    by_key = {dhl_key(p.tracking_number): p for p in parcels if p.tracking_number}
    on_manifest: set[int] = set()
    for shipment in document.items:
        parcel = by_key.get(dhl_key(shipment.shipment_no))
        if parcel is None:
            continue
        on_manifest.add(parcel.parcel_id)
        if shipment.title.lower() not in ("", "ok"):
            said = ": ".join(part for part in (shipment.title, shipment.detail) if part)
            step.problems[parcel.parcel_id] = f"closed at DHL but DHL reported an error ({said})"
    found = [i for i in unresolved if i in on_manifest]
    with session_scope(db_url) as session:
        step.newly_closed = mark_parcels_closed(session, parcel_ids=found, at=utcnow())
    for parcel_id in unresolved:
        if parcel_id not in on_manifest:
            step.problems[parcel_id] = (
                f"parcel not known to DHL (not closed by ?all=true and not on DHL's "
                f"manifest of {day:%Y-%m-%d})"
            )
    return step


# --- 3. our shipping list -------------------------------------------------------------------


@dataclass(frozen=True)
class ListFiles:
    pdf: str  # relative to LIEFERN_HOME
    csv: str
    sha256: str  # of the CSV: the same rows give the same digest
    written: bool  # False: the list was unchanged and both files were there


def list_rows(carrier: str, parcels: Sequence[DayParcel]) -> list[ShippingListRow]:
    name = CARRIERS[carrier].name if carrier in CARRIERS else carrier
    rows = [
        ShippingListRow(
            carrier=name,
            tracking_number=p.tracking_number,
            order_no=p.order_no,
            recipient_name=p.recipient_name,
            postal_code=p.postal_code,
            city=p.city,
            ship_date=p.ship_date,
        )
        for p in parcels
    ]
    return sorted(rows, key=lambda r: (r.order_no, r.tracking_number or ""))


def write_shipping_list(
    *,
    home: Path,
    carrier: str,
    day: date,
    parcels: Sequence[DayParcel],
    shop_name: str,
    previous_sha256: str | None,
) -> ListFiles:
    """PDF and CSV of the day's parcels; rewritten only when the rows changed or a file is
    missing, so a second closing leaves the printed list as it was."""
    folder = closing_folder(carrier, day)
    rows = list_rows(carrier, parcels)
    csv_data = render_csv(rows)
    digest = hashlib.sha256(csv_data).hexdigest()
    pdf_path, csv_path = f"{folder}/{LIST_PDF}", f"{folder}/{LIST_CSV}"
    present = (home / pdf_path).is_file() and (home / csv_path).is_file()
    if digest == previous_sha256 and present:
        return ListFiles(pdf_path, csv_path, digest, written=False)
    name = CARRIERS[carrier].name if carrier in CARRIERS else carrier
    pdf_data = render_pdf(carrier_name=name, day=day, shop_name=shop_name, rows=rows)
    _write(home, csv_path, csv_data)
    _write(home, pdf_path, pdf_data)
    return ListFiles(pdf_path, csv_path, digest, written=True)


# --- 4. reconciliation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    order_no: str
    tracking_number: str | None  # None: a parcel shipped without tracking
    portal: str
    check: str  # closed | mail | confirmation
    problem: str

    def as_dict(self) -> dict[str, str | None]:
        return {
            "order_no": self.order_no,
            "tracking_number": self.tracking_number,
            "portal": self.portal,
            "check": self.check,
            "problem": self.problem,
        }


@dataclass
class Reconciliation:
    portals: dict[str, Counter[str]] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.portals.values():
            total.update(counts)
        return total


COUNT_COLUMNS = ("imported", "closed", "mailed", "mail_suppressed", "confirmed", "not_to_confirm")


def _mail_problem(mail: MailFact | None, parcel: DayParcel) -> str | None:
    if mail is None:
        return "imported but never mailed"
    if mail.status == "failed":
        return f"mail failed: {mail.reason or 'no reason recorded'}"
    if mail.status == "pending":
        if is_waiting(mail.reason):
            return f"shipping mail {mail.reason}; a deliver run sends it once the server takes it"
        if mail.attempts:
            return "mail outcome unknown; the next deliver run sends it again"
        return "shipping mail not sent yet"
    if mail.status == "sent" and mail.finished_at and mail.finished_at < parcel.created_at:
        return "parcel added after the shipping mail went out: the buyer does not know it"
    return None


def _confirmation_problem(portal: str, rows: Sequence[ConfirmationFact]) -> str | None:
    if not rows:
        return f"never confirmed to {portal}"
    waiting = [row for row in rows if row.status not in CONFIRMATION_DONE]
    if not waiting:
        return None
    row = waiting[0]
    reason = f"[{row.error_code}] {row.error_text}" if row.error_code else row.error_text or ""
    if row.status == "rejected":
        return f"confirmation rejected by {row.portal}: {reason or 'no reason given'}"
    if row.status == "failed":
        return f"confirmation to {row.portal} failed: {reason or 'no reason given'}"
    if row.status == "submitted":
        return f"confirmation still pending: submitted, {row.portal}'s result not in yet"
    if row.status == "held":
        return f"confirmation to {row.portal} held for the shipping mail: {reason}"
    return f"confirmation still pending ({row.portal})" + (f": {reason}" if reason else "")


def reconcile(
    parcels: Sequence[DayParcel],
    *,
    mails: Mapping[int, MailFact],
    confirmations: Sequence[ConfirmationFact],
    carrier_problems: Mapping[int, str],
    open_reason: str = "not closed",
) -> Reconciliation:
    """Per parcel: closed? mailed? confirmed to its portal? Pure, from the ledgers' facts.

    `carrier_problems` says why an open parcel is open, or what the carrier reported about a
    closed one; open parcels without an entry get `open_reason`. A mail suppressed by policy
    and a confirmation skipped by policy (or an order of the own shop) are no mismatch."""
    by_parcel: dict[tuple[int, int], list[ConfirmationFact]] = {}
    for fact in confirmations:
        by_parcel.setdefault((fact.order_id, fact.parcel_id), []).append(fact)
    result = Reconciliation()
    for parcel in parcels:
        counts = result.portals.setdefault(parcel.portal, Counter())
        counts["imported"] += 1
        found: list[tuple[str, str]] = []
        carrier_problem = carrier_problems.get(parcel.parcel_id)
        if parcel.closed_at is None:
            found.append(("closed", carrier_problem or open_reason))
        else:
            counts["closed"] += 1
            if carrier_problem:
                found.append(("closed", carrier_problem))
        mail = mails.get(parcel.order_id)
        if mail is not None and mail.status in ("sent", "suppressed"):
            counts["mailed" if mail.status == "sent" else "mail_suppressed"] += 1
        mail_problem = _mail_problem(mail, parcel)
        if mail_problem:
            found.append(("mail", mail_problem))
        if parcel.portal == "shop":
            counts["not_to_confirm"] += 1
        else:
            rows = by_parcel.get((parcel.order_id, parcel.parcel_id), [])
            statuses = {r.status for r in rows}
            if "confirmed" in statuses:
                counts["confirmed"] += 1
            elif rows and statuses <= {"skipped"}:
                counts["not_to_confirm"] += 1
            problem = _confirmation_problem(parcel.portal, rows)
            if problem:
                found.append(("confirmation", problem))
        if found:
            counts["mismatches"] += 1
        result.mismatches += [
            Mismatch(parcel.order_no, parcel.tracking_number, parcel.portal, check, problem)
            for check, problem in found
        ]
    return result


def reconcile_day(
    db_url: str,
    *,
    parcels: Sequence[DayParcel],
    carrier_problems: Mapping[int, str],
    open_reason: str = "not closed",
    batch: int = BATCH,
) -> Reconciliation:
    """`reconcile` over the ledgers, read for a batch of orders at a time."""
    total = Reconciliation()
    for start in range(0, len(parcels), batch):
        chunk = parcels[start : start + batch]
        order_ids = sorted({p.order_id for p in chunk})
        with session_scope(db_url) as session:
            mails = mail_facts(session, order_ids=order_ids)
            confirmations = confirmation_facts(session, order_ids=order_ids)
        part = reconcile(
            chunk,
            mails=mails,
            confirmations=confirmations,
            carrier_problems=carrier_problems,
            open_reason=open_reason,
        )
        for portal, counts in part.portals.items():
            total.portals.setdefault(portal, Counter()).update(counts)
        total.mismatches += part.mismatches
    return total


# --- Prefect tasks: thin wrappers ---------------------------------------------------------------


@task(
    name="load-day",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_it_helps,
)
def load_day_task(db_url: str, *, carrier: str, day: date) -> list[DayParcel]:
    """Read the day's parcels of the carrier."""
    return load_day(db_url, carrier=carrier, day=day)


@task(
    name="close-in-store",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_it_helps,
)
def close_in_store_task(db_url: str, *, parcel_ids: Sequence[int]) -> int:
    """Mark the day's open parcels closed (carriers without a closing API)."""
    return close_in_store(db_url, parcel_ids=parcel_ids)


@task(
    name="close-with-dhl",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=30,
    retry_condition_fn=retry_if_it_helps,
)
async def close_with_dhl_task(
    db_url: str, *, parcels: Sequence[DayParcel], options: DhlOptions
) -> CarrierStep:
    """POST /manifests for the open parcels and record DHL's answer per shipment."""
    return await close_with_dhl(db_url, parcels=parcels, options=options)


@task(
    name="fetch-dhl-manifest",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=30,
    retry_condition_fn=retry_if_it_helps,
)
async def fetch_dhl_manifest_task(
    db_url: str,
    *,
    home: Path,
    day: date,
    parcels: Sequence[DayParcel],
    unresolved: Sequence[int],
    options: DhlOptions,
) -> ManifestStep:
    """GET /manifests?date= and store DHL's PDF."""
    return await fetch_dhl_manifest(
        db_url, home=home, day=day, parcels=parcels, unresolved=unresolved, options=options
    )


@task(
    name="write-shipping-list",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_it_helps,
)
def write_shipping_list_task(
    *,
    home: Path,
    carrier: str,
    day: date,
    parcels: Sequence[DayParcel],
    shop_name: str,
    previous_sha256: str | None,
) -> ListFiles:
    """Render and store the day's shipping list (PDF + CSV) when it changed."""
    return write_shipping_list(
        home=home,
        carrier=carrier,
        day=day,
        parcels=parcels,
        shop_name=shop_name,
        previous_sha256=previous_sha256,
    )


@task(
    name="reconcile-day",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_it_helps,
)
def reconcile_day_task(
    db_url: str,
    *,
    parcels: Sequence[DayParcel],
    carrier_problems: Mapping[int, str],
    open_reason: str = "not closed",
) -> Reconciliation:
    """Compare the day's parcels with the mail and confirmation ledgers."""
    return reconcile_day(
        db_url, parcels=parcels, carrier_problems=carrier_problems, open_reason=open_reason
    )


@dataclass(frozen=True)
class ClosingSteps:
    """The steps of a closing, so the same orchestration runs as tasks or as plain calls."""

    load_day: Callable[..., list[DayParcel]]
    close_in_store: Callable[..., int]
    close_with_dhl: Callable[..., Awaitable[CarrierStep]]
    fetch_dhl_manifest: Callable[..., Awaitable[ManifestStep]]
    write_shipping_list: Callable[..., ListFiles]
    reconcile_day: Callable[..., Reconciliation]


PLAIN_STEPS = ClosingSteps(
    load_day=load_day,
    close_in_store=close_in_store,
    close_with_dhl=close_with_dhl,
    fetch_dhl_manifest=fetch_dhl_manifest,
    write_shipping_list=write_shipping_list,
    reconcile_day=reconcile_day,
)
TASK_STEPS = ClosingSteps(
    load_day=load_day_task,
    close_in_store=close_in_store_task,
    close_with_dhl=close_with_dhl_task,
    fetch_dhl_manifest=fetch_dhl_manifest_task,
    write_shipping_list=write_shipping_list_task,
    reconcile_day=reconcile_day_task,
)
