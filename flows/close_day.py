"""Flow: the daily closing (Tagesabschluss) of one carrier and day.

    liefern close-day --carrier dhl [--date 2026-11-26]

One run does the whole day: close the parcels (DHL: the manifest call; other carriers: in the
store), fetch DHL's manifest PDF, write our shipping list, and reconcile the day's parcels with
the mail and confirmation ledgers. The run's artifact `close-day-reconciliation` lists every
mismatch, so the run history is the day's protocol.

A run that could not do its part with the carrier (credentials refused, DHL down after the
retries, manifest not fetched) still writes the list and the reconciliation, then ends Failed,
so that a schedule's failure notification fires; `ClosingFailed` carries the result. A day
closed with mismatches ends "Completed with problems" (core/run_verdict.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed

from connectors.errors import AuthError, ConnectorError
from core.carriers.numbers import find_carrier, get_carrier
from core.carriers.table import CARRIERS
from core.clock import business_today
from core.run_verdict import WITH_PROBLEMS
from core.settings import get_settings
from db.queries.closing import open_closing, record_closing_run
from db.session import session_scope
from db.types import utcnow
from flows.labels import label_run
from flows.results import (
    ClosingCounts,
    ClosingFiles,
    ClosingResult,
    ClosingWritten,
    DhlClosing,
    Mismatch,
    Reconciliation,
    ReconciliationCounts,
)
from tasks.closing import (
    COUNT_COLUMNS,
    DHL,
    PLAIN_STEPS,
    TASK_STEPS,
    CarrierStep,
    ClosingSteps,
    DhlOptions,
    ManifestStep,
    dhl_options,
)
from tasks.guard import run_guard

ARTIFACT_KEY = "close-day-reconciliation"
ARTIFACT_ROWS = 1000  # mismatches shown in the artifact; the CLI's --json has all
MISMATCH_COLUMNS = ("order_no", "tracking_number", "portal", "check", "problem")
DHL_CREDENTIALS_HINT = (
    "check LIEFERN_DHL_API_KEY, LIEFERN_DHL_USERNAME, LIEFERN_DHL_PASSWORD "
    "(and LIEFERN_DHL_CLIENT_SECRET for OAuth)"
)


class ClosingFailed(RuntimeError):
    """The closing ran but could not finish with the carrier; `.result` says what was done."""

    def __init__(self, result: ClosingResult) -> None:
        super().__init__("; ".join(result.errors))
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:  # pickled intact (Prefect's result storage)
        return (ClosingFailed, (self.result,))


def parse_day(value: str | None, *, today: date) -> date:
    """`YYYY-MM-DD` (default today); a day in the future cannot be closed."""
    if not value:
        return today
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"--date {value!r} is not a date: use YYYY-MM-DD") from None
    if day > today:
        raise ValueError(f"{day:%Y-%m-%d} lies in the future: only today or earlier can be closed")
    return day


def _dhl_error(error: ConnectorError) -> str:
    if isinstance(error, AuthError):
        return (
            f"DHL credentials refused ({error}): {DHL_CREDENTIALS_HINT}; the parcels stay open "
            "until a run gets through"
        )
    return f"closing with DHL failed ({error}); open parcels stay open, run close-day again"


async def run_closing(
    db_url: str,
    *,
    carrier: str,
    day: date,
    home: Path,
    shop_name: str,
    dhl: DhlOptions | None = None,
    setup_error: str | None = None,
    run_id: str | None = None,
    steps: ClosingSteps = PLAIN_STEPS,
    log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
) -> ClosingResult:
    """Close `carrier`'s `day` and answer the whole result (what the CLI prints with --json).

    `dhl` is needed for DHL only; `setup_error` says why it could not be built."""
    log = log or logging.getLogger(__name__)
    errors: list[str] = []
    with session_scope(db_url) as session:
        row = open_closing(session, carrier=carrier, day=day)
        closing_id, previous_sha = row.id, row.list_sha256
        carrier_pdf, first_closed = row.carrier_pdf_path, row.closed_at
    parcels = steps.load_day(db_url, carrier=carrier, day=day)
    waiting = [p for p in parcels if p.closed_at is None]
    log.info("%s %s: %d parcels, %d not closed yet", carrier, day, len(parcels), len(waiting))

    step, manifest = CarrierStep(), None
    open_reason = "not closed"
    closed_here = 0
    if carrier == DHL:
        # DHL's manifest lists tracking numbers: a parcel without one is handed over with our
        # shipping list alone, so it is closed here, whatever DHL answers
        untracked = [p.parcel_id for p in waiting if p.tracking_number is None]
        if untracked:
            closed_here = steps.close_in_store(db_url, parcel_ids=untracked)
        tracked = [p for p in parcels if p.tracking_number is not None]
        waiting = [p for p in waiting if p.tracking_number is not None]
        if dhl is None:
            errors.append(setup_error or "DHL is not configured")
        else:
            carrier_failed = False
            if waiting:
                try:
                    step = await steps.close_with_dhl(db_url, parcels=waiting, options=dhl)
                except ConnectorError as error:
                    errors.append(_dhl_error(error))
                    carrier_failed = True
            missing = not carrier_pdf or not (home / carrier_pdf).is_file()
            closed_before = len(waiting) < len(tracked)
            anything_closed = bool(step.newly_closed or step.unresolved or closed_before)
            if not carrier_failed and anything_closed and (step.newly_closed or missing):
                try:
                    manifest = await steps.fetch_dhl_manifest(
                        db_url,
                        home=home,
                        day=day,
                        parcels=parcels,
                        unresolved=step.unresolved,
                        options=dhl,
                    )
                except ConnectorError as error:
                    errors.append(
                        f"DHL's manifest of {day:%Y-%m-%d} not fetched ({error}); "
                        "run close-day again to fetch it"
                    )
        if errors:
            open_reason = "not closed: the closing with DHL did not go through (see errors)"
    elif waiting:
        step.sent = len(waiting)
        step.newly_closed = steps.close_in_store(db_url, parcel_ids=[p.parcel_id for p in waiting])

    parcels = steps.load_day(db_url, carrier=carrier, day=day)
    files = steps.write_shipping_list(
        home=home,
        carrier=carrier,
        day=day,
        parcels=parcels,
        shop_name=shop_name,
        previous_sha256=previous_sha,
    )
    problems = {**step.problems, **(manifest.problems if manifest else {})}
    reconciliation = steps.reconcile_day(
        db_url, parcels=parcels, carrier_problems=problems, open_reason=open_reason
    )
    newly_closed = step.newly_closed + closed_here + (manifest.newly_closed if manifest else 0)
    closed = sum(1 for p in parcels if p.closed_at is not None)
    status = _status(errors, len(parcels) - closed, newly_closed, files.written, manifest)
    now = utcnow()
    values: dict[str, Any] = {
        "status": "closed" if status == "already_closed" else status,
        "parcels": len(parcels),
        "closed_parcels": closed,
        "list_sha256": files.sha256,
        "list_pdf_path": files.pdf,
        "list_csv_path": files.csv,
        "error": "; ".join(errors) or None,
        "flow_run_id": run_id,
        "updated_at": now,
    }
    if manifest is not None:
        values.update(carrier_pdf_path=manifest.path, carrier_reference=manifest.sheets[:500])
        carrier_pdf = manifest.path
    if first_closed is None and status == "closed":
        values["closed_at"] = now
    with session_scope(db_url) as session:
        record_closing_run(session, closing_id=closing_id, values=values)

    for problem in errors:
        log.error("%s %s: %s", carrier, day, problem)
    for mismatch in reconciliation.mismatches[:ARTIFACT_ROWS]:
        log.warning(
            "order %s (%s): %s",
            mismatch.order_no,
            mismatch.tracking_number or "untracked",
            mismatch.problem,
        )
    return ClosingResult(
        closing_id=closing_id,
        carrier=carrier,
        carrier_name=CARRIERS[carrier].name if carrier in CARRIERS else carrier,
        day=day.isoformat(),
        status=status,
        counts=ClosingCounts(
            parcels=len(parcels),
            closed=closed,
            newly_closed=newly_closed,
            not_closed=len(parcels) - closed,
            sent_to_carrier=step.sent,
            mismatches=len(reconciliation.mismatches),
        ),
        files=ClosingFiles(
            shipping_list_pdf=str((home / files.pdf).resolve()),
            shipping_list_csv=str((home / files.csv).resolve()),
            carrier_pdf=str((home / carrier_pdf).resolve()) if carrier_pdf else None,
        ),
        written=ClosingWritten(shipping_list=files.written, carrier_pdf=manifest is not None),
        dhl=_dhl_part(step, manifest) if carrier == DHL else None,
        reconciliation=Reconciliation(
            portals={
                portal: _reconciled(counts)
                for portal, counts in sorted(reconciliation.portals.items())
            },
            totals=_reconciled(reconciliation.totals),
        ),
        mismatches=tuple(
            Mismatch(m.order_no, m.tracking_number, m.portal, m.check, m.problem)
            for m in reconciliation.mismatches
        ),
        errors=tuple(errors),
    )


def _reconciled(counts: Mapping[str, int]) -> ReconciliationCounts:
    return ReconciliationCounts(**{c: counts.get(c, 0) for c in (*COUNT_COLUMNS, "mismatches")})


def _status(
    errors: list[str],
    still_open: int,
    newly_closed: int,
    list_written: bool,
    manifest: ManifestStep | None,
) -> str:
    if errors:
        return "failed"
    if still_open:
        return "partial"
    if newly_closed or list_written or manifest is not None:
        return "closed"
    return "already_closed"


def _dhl_part(step: CarrierStep, manifest: ManifestStep | None) -> DhlClosing:
    return DhlClosing(
        items=tuple(step.items),
        not_in_store=tuple(step.not_in_store),
        manifest_sheets=manifest.sheets if manifest else None,
        manifest_shipments=manifest.shipments if manifest else None,
    )


def _run_name() -> str:
    params = flow_run.parameters
    carrier = str(params.get("carrier", "unknown"))
    known = find_carrier(carrier)  # an unknown one fails the run at once, with the reason
    carrier = known.code if known else carrier
    day = params.get("day") or business_today().isoformat()
    return f"close-day-{carrier}-{day}"


@flow(name="close-day", flow_run_name=_run_name)
async def close_day(carrier: str, day: str | None = None) -> ClosingResult:
    """Close the day with the carrier, write the shipping list, reconcile the day."""
    logger = get_run_logger()
    settings = get_settings()
    code = get_carrier(carrier).code
    the_day = parse_day(day, today=business_today())
    await label_run(carriers=[code])
    options, setup_error = None, None
    if code == DHL:
        try:
            options = dhl_options(settings.accounts_path)
        except (ConnectorError, ValueError) as error:
            setup_error = str(error)
    with run_guard(settings.db_url, [f"close-day:{code}"]):
        result = await run_closing(
            settings.db_url,
            carrier=code,
            day=the_day,
            home=settings.home,
            shop_name=settings.shop_name,
            dhl=options,
            setup_error=setup_error,
            run_id=str(flow_run.id) if flow_run.id else None,
            steps=TASK_STEPS,
            log=logger,
        )
    await _publish(result)
    if result.errors:
        raise ClosingFailed(result)
    if result.mismatches:  # closed, but orders and parcels disagree: someone has to look
        message = f"{len(result.mismatches)} mismatches (see the closing artifact)"
        return Completed(name=WITH_PROBLEMS, message=message, data=result)  # type: ignore[return-value]
    return result


async def _publish(result: ClosingResult) -> None:
    shown = result.mismatches[:ARTIFACT_ROWS]
    table = {column: [getattr(m, column) for m in shown] for column in MISMATCH_COLUMNS}
    portals = result.reconciliation.portals
    header = ("portal", *COUNT_COLUMNS, "mismatches")
    lines = [
        f"Daily closing {result.carrier_name} {result.day}: {result.status}",
        "",
        "| " + " | ".join(h.replace("_", " ") for h in header) + " |",
        "|" + "---|" * len(header),
        *(
            "| " + " | ".join([portal, *(str(getattr(counts, c)) for c in header[1:])]) + " |"
            for portal, counts in portals.items()
        ),
    ]
    if len(shown) < len(result.mismatches):
        lines += ["", f"first {len(shown)} of {len(result.mismatches)} mismatches"]
    lines += ["", *(f"error: {e}" for e in result.errors)]
    await acreate_table_artifact(key=ARTIFACT_KEY, table=table, description="\n".join(lines))
