"""What each flow run answers: one frozen dataclass per flow, the parts nested in it.

    deliver          → DeliverResult        poll-portals    → PollResult
    tracking-import  → TrackingImportResult close-day       → ClosingResult
    anonymise-buyers → RetentionResult      track-parcels   → TrackResult

A flow returns its result (or carries it as the `data` of its end state, flows/outcome.py), the
CLI prints it, the benchmarks and tests read it by attribute. liefern leaves Prefect's result
persistence at its defaults: a result stays in memory, and where a run persists it (a flow
with `persist_result=True`, PREFECT_RESULTS_PERSIST_BY_DEFAULT) Prefect pickles it. These
plain frozen dataclasses of standard types come back as themselves from pickle and from
Prefect's JSON serializer alike (tests/test_flow_results.py).

`as_json()` is what `--json` prints (README): the same keys and nesting the commands have
always printed. Parts a run did not have (a dry run's preview, the confirmations of a run
without orders) are left out rather than printed as null; the fields with OPTIONAL metadata
are those. Counts by status (`{"sent": 3, "failed": 1}`) stay mappings: the statuses are the
ledgers' and the portals' words, and only those that occurred are counted.

Free of Prefect and of the tasks: the CLI reads these types before Prefect is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import TypeAlias

# a part the result may lack: None then, and left out of `as_json()`
OPTIONAL = {"optional": True}


def _jsonable(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _jsonable(getattr(value, f.name))
            for f in fields(value)
            if not (f.metadata.get("optional") and getattr(value, f.name) is None)
        }
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


class JsonShape:
    """`as_json()`: the result as the dicts and lists `--json` prints."""

    def as_json(self) -> dict[str, object]:
        shape = _jsonable(self)
        assert isinstance(shape, dict)
        return shape


Counts: TypeAlias = dict[str, int]  # status → how many, only statuses that occurred


# --- shared ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderProblem(JsonShape):
    """An order that needs a look: its number, the status that says why, the reason."""

    order_no: str
    status: str
    reason: str


@dataclass(frozen=True)
class ProtocolCounts(JsonShape):
    """The run's per-order protocol (flows/protocol.py): orders named, rows that are problems."""

    orders: int
    problems: int


# --- deliver and poll-portals ------------------------------------------------------------------


@dataclass(frozen=True)
class MailProblem(JsonShape):
    """A shipping mail that did not go out as planned in this run."""

    order_no: str
    status: str  # failed | unknown (no answer after DATA) | waiting (for the mail server)
    reason: str  # the server's reply or why the mail cannot be built
    # waiting: the server's words
    reply: str | None = field(default=None, metadata=OPTIONAL)
    # waiting: the minute of the next try
    not_before: str | None = field(default=None, metadata=OPTIONAL)
    carrier: str = ""  # the carrier group whose run met it


@dataclass(frozen=True)
class MailPreview(JsonShape):
    """A dry run's word on one order's shipping mail."""

    order_no: str
    to: str | None  # the buyer's address
    parcels: tuple[str, ...]  # "<carrier> <tracking number>"
    action: str  # send | suppress | fail
    # send: the mail's subject
    subject: str | None = field(default=None, metadata=OPTIONAL)
    # send: a mail of this order was tried before
    resend: bool | None = field(default=None, metadata=OPTIONAL)
    # suppress, fail: why not
    reason: str | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class ConfirmationProblem(JsonShape):
    """A portal confirmation that needs a look: rejected, failed, held or sent back to pending."""

    order_no: str
    portal: str
    status: str
    reason: str  # "[<portal's code>] <portal's text>", or why it is held


@dataclass(frozen=True)
class Confirmations(JsonShape):
    """The portal confirmations of a run, or of one step of a poll run."""

    totals: Counts  # what the portal tasks answered, by confirmation status
    problems: tuple[ConfirmationProblem, ...]
    errors: tuple[str, ...]  # "<portal>: <error>" of each portal task that failed
    # deliver: the run's orders by portal, status
    portals: dict[str, Counts] | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class MailsWaiting(JsonShape):
    """Mails, of this run or earlier ones, waiting for the mail server: not sent yet."""

    mails: int
    not_before: str | None  # the minute the earliest may be tried again
    reason: str | None  # the latest server reply


@dataclass(frozen=True)
class DeliverResult(JsonShape):
    """A deliver run: shipping mails per carrier group, then the portal confirmations."""

    dry_run: bool
    carriers: dict[str, Counts]  # carrier group → mails by outcome (sent, failed, …)
    totals: Counts  # the same over all groups
    problems: tuple[MailProblem, ...]
    # dry run: what would go out
    preview: tuple[MailPreview, ...] | None = field(default=None, metadata=OPTIONAL)
    # none: no order to confirm (or dry run)
    confirmations: Confirmations | None = field(default=None, metadata=OPTIONAL)
    # none in a dry run
    protocol: ProtocolCounts | None = field(default=None, metadata=OPTIONAL)
    # the CLI's look at the mail ledger
    mails_waiting: MailsWaiting | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class PollResult(JsonShape):
    """A poll-portals run: Amazon's processing reports, then what went back to pending."""

    polled: Confirmations
    resubmitted: Confirmations
    portals: dict[str, Counts]  # every order's confirmations by portal and status
    problems: tuple[ConfirmationProblem, ...]  # polled's and resubmitted's
    errors: tuple[str, ...]  # polled's and resubmitted's
    protocol: ProtocolCounts


# --- tracking-import ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedRow(JsonShape):
    """A row of a tracking file that was not imported, with the reader's reason."""

    row: int  # the file's line number
    column: str
    value: str
    code: str  # the reason as a word (web texts are keyed by it)
    message: str


@dataclass(frozen=True)
class TrackingImportResult(JsonShape):
    """A tracking import: the file's rows and what became of them."""

    import_id: int
    status: str  # running | done | failed
    file_name: str
    sha256: str
    rows: int
    imported: int
    already_known: int  # the parcel was there before: importing again changes nothing
    rejected: tuple[RejectedRow, ...]
    error: str | None  # why the import failed


# --- close-day ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClosingCounts(JsonShape):
    """The day's parcels of the carrier."""

    parcels: int
    closed: int
    newly_closed: int  # by this run
    not_closed: int
    sent_to_carrier: int
    mismatches: int


@dataclass(frozen=True)
class ClosingFiles(JsonShape):
    """Where the day's lists are (absolute paths)."""

    shipping_list_pdf: str
    shipping_list_csv: str
    carrier_pdf: str | None  # DHL's manifest


@dataclass(frozen=True)
class ClosingWritten(JsonShape):
    """Which files this run wrote (False: unchanged since an earlier run)."""

    shipping_list: bool
    carrier_pdf: bool


@dataclass(frozen=True)
class DhlShipment(JsonShape):
    """DHL's word on closing one shipment."""

    shipment_no: str
    order_no: str | None  # None: a shipment DHL knows and the store does not
    status: str  # closed | already_closed | error
    title: str
    detail: str


@dataclass(frozen=True)
class DhlClosing(JsonShape):
    """What DHL said: per shipment, and its manifest of the day."""

    items: tuple[DhlShipment, ...]
    not_in_store: tuple[str, ...]  # shipment numbers DHL closed that the store does not know
    manifest_sheets: str | None  # billing number → sheet number, as printed
    manifest_shipments: int | None


@dataclass(frozen=True)
class ReconciliationCounts(JsonShape):
    """The day's parcels checked against the mail and confirmation ledgers."""

    imported: int
    closed: int
    mailed: int
    mail_suppressed: int
    confirmed: int
    not_to_confirm: int
    mismatches: int


@dataclass(frozen=True)
class Reconciliation(JsonShape):
    """The reconciliation per portal and over all portals."""

    portals: dict[str, ReconciliationCounts]
    totals: ReconciliationCounts


@dataclass(frozen=True)
class Mismatch(JsonShape):
    """A parcel whose orders and ledgers disagree with the closing."""

    order_no: str
    tracking_number: str | None  # None: a parcel shipped without tracking
    portal: str
    check: str  # closed | mail | confirmation
    problem: str


@dataclass(frozen=True)
class ClosingResult(JsonShape):
    """A daily closing (Tagesabschluss) of one carrier and day."""

    closing_id: int
    carrier: str
    carrier_name: str
    day: str  # YYYY-MM-DD
    status: str  # closed | already_closed | partial | failed
    counts: ClosingCounts
    files: ClosingFiles
    written: ClosingWritten
    dhl: DhlClosing | None  # DHL only
    reconciliation: Reconciliation
    mismatches: tuple[Mismatch, ...]
    errors: tuple[str, ...]  # what could not be done with the carrier, and what to do


# --- anonymise-buyers --------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionCounts(JsonShape):
    due: int  # orders past their retention
    anonymised: int  # or, in a dry run, would be
    skipped: int  # data still needed


@dataclass(frozen=True)
class DueOrder(JsonShape):
    """An order past its retention period."""

    order_no: str
    portal: str
    account: str
    retention_days: int
    delivered_at: datetime
    delivered_from: str  # tracking | arrived | ship_date: what counted as the delivery
    due_at: datetime


@dataclass(frozen=True)
class AnonymisedOrder(DueOrder):
    fields: tuple[str, ...] = ()  # the blanked columns (`table.column`), never their values


@dataclass(frozen=True)
class SkippedOrder(DueOrder):
    reason: str = ""  # why its data are still needed


@dataclass(frozen=True)
class RetentionResult(JsonShape):
    """An anonymise-buyers run (or its dry run)."""

    run_id: str
    dry_run: bool
    at: datetime
    counts: RetentionCounts
    rules: dict[str, int | None]  # portal or portal/account → days after delivery (None: kept)
    anonymised: tuple[AnonymisedOrder, ...]
    skipped: tuple[SkippedOrder, ...]


# --- track-parcels -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSummary(JsonShape):
    """What one tracking source did in the run."""

    source: str
    account: str
    calls: int
    parcels_asked: int
    events: int
    delivered: int
    statuses: Counts  # parcels by the delivery status the source reported
    stopped: str  # why the source stopped early: budget, throttled, error text


@dataclass(frozen=True)
class WatchedParcel(JsonShape):
    """A parcel on the problems list (core/watchlist.py)."""

    order_no: str
    portal: str
    account: str
    carrier: str
    tracking_number: str | None
    problem: str
    since: str | None  # ISO time the problem began
    status: str | None  # the last delivery status
    status_text: str | None  # the carrier's last words


@dataclass(frozen=True)
class Watchlist(JsonShape):
    """The problems list at the run's end."""

    count: int
    parcels: tuple[WatchedParcel, ...]  # the listed ones (capped; `count` has all)


@dataclass(frozen=True)
class DelayMails(JsonShape):
    """The delay mails of the run."""

    counts: Counts
    sent: tuple[str, ...]  # order numbers
    problems: tuple[OrderProblem, ...]


@dataclass(frozen=True)
class TrackResult(JsonShape):
    """A track-parcels run: every tracking source asked, then the problems list."""

    sources: tuple[SourceSummary, ...]
    calls: int
    parcels_asked: int
    delivered: int
    arrived: tuple[str, ...]  # orders set to arrived
    problems: tuple[OrderProblem, ...]  # parcels in trouble (exception, lost, …)
    errors: tuple[str, ...]  # sources that could not be asked
    protocol: ProtocolCounts
    watchlist: Watchlist
    delay_mails: DelayMails


RunResult: TypeAlias = (
    DeliverResult
    | PollResult
    | TrackingImportResult
    | ClosingResult
    | RetentionResult
    | TrackResult
)
