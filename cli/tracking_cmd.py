"""`liefern tracking add` and `liefern tracking import`."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import typer

from cli.output import Exit, JsonOption, emit, fail, rejected_lines
from cli.runtime import ensure_database, prepare_prefect
from core.carriers.numbers import (
    TrackingNumberError,
    UnknownCarrier,
    get_carrier,
    normalise_tracking_number,
)
from core.clock import business_today
from core.settings import get_settings
from core.ship_dates import ShipDateWindow
from core.tracking_csv import PRESETS
from core.tracking_rows import ParcelRow
from db.session import session_scope
from db.types import utcnow
from tasks.parcels import attach_parcels

app = typer.Typer(help="Tracking numbers.", no_args_is_help=True)


@app.command("add")
def add(
    order_no: str = typer.Argument(..., help="Order number or portal order id."),
    carrier: str = typer.Argument(..., help="dhl, deutsche_post, dpd, ups, gls, hermes, …"),
    number: str | None = typer.Argument(
        None, help="The tracking number as printed on the label (omit with --untracked)."
    ),
    untracked: bool = typer.Option(
        False, "--untracked", help="The parcel was sent without tracking number (letter)."
    ),
    ship_date: str = typer.Option(None, "--ship-date", help="YYYY-MM-DD, default today."),
    return_number: str = typer.Option(
        None,
        "--return",
        help="The tracking number of the return label in the parcel (OTTO needs it); "
        "given for a known parcel, it is added to it.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Add one parcel to an order."""
    if untracked and number:
        fail(
            f"--untracked means no tracking number, but {number!r} was given; drop one of them",
            as_json=as_json,
        )
    if not untracked and not (number or "").strip():
        fail(
            "give the tracking number, or --untracked for a parcel sent without one",
            as_json=as_json,
        )
    if untracked and return_number:
        fail("--return needs the parcel's own tracking number, not --untracked", as_json=as_json)
    try:
        code = get_carrier(carrier).code
        normalised = None if untracked else normalise_tracking_number(code, number or "")
        back = normalise_tracking_number(code, return_number) if return_number else None
        day = date.fromisoformat(ship_date) if ship_date else business_today()
    except (UnknownCarrier, TrackingNumberError, ValueError) as error:
        fail(str(getattr(error, "message", error)), as_json=as_json)
    window = ShipDateWindow.at(utcnow(), max_age_days=get_settings().ship_date_max_age_days)
    implausible = window.check(day)
    if implausible is not None:
        fail(f"--ship-date: {implausible.message}", as_json=as_json)
    url = ensure_database()
    with session_scope(url) as session:
        outcome = attach_parcels(
            session,
            rows=[
                ParcelRow(
                    1,
                    order_no,
                    code,
                    normalised,
                    day,
                    dated=ship_date is not None,
                    return_number=back,
                )
            ],
            source="cli",
        )
    result: dict[str, Any] = {
        "order_no": order_no,
        "carrier": code,
        "tracking_number": normalised,
        "return_tracking_number": back,
        "imported": outcome.imported,
        "already_known": outcome.already_known,
        "rejected": [p.as_dict() for p in outcome.problems],
    }

    def text() -> str:
        if outcome.problems:
            return f"not added: {outcome.problems[0].message}"
        state = "already known" if outcome.already_known else "added"
        what = f"{code} {normalised}" if normalised else f"{code} parcel without tracking number"
        returns = f" (return label {back} recorded)" if back else ""
        return f"{what} {state} on order {order_no}{returns}"

    emit(result, as_json=as_json, text=text)
    if outcome.problems:
        raise typer.Exit(int(Exit.ITEMS_FAILED))


@app.command("import")
def import_file(
    file: Path = typer.Argument(..., help="CSV export of tracking numbers."),
    file_format: str = typer.Option(
        None, "--format", help=f"Preset: {', '.join(sorted(PRESETS))} (default: by header)."
    ),
    carrier: str = typer.Option(None, "--carrier", help="Carrier for rows without one."),
    as_json: bool = JsonOption,
) -> None:
    """Import tracking numbers from a file; re-importing changes nothing."""
    if not file.is_file():
        fail(f"no such file: {file}", as_json=as_json)
    if carrier:
        try:
            carrier = get_carrier(carrier).code
        except UnknownCarrier as error:
            fail(str(error), as_json=as_json)
    if file_format and file_format.lower() not in PRESETS:
        fail(
            f"unknown --format {file_format!r}; use one of {', '.join(sorted(PRESETS))}",
            as_json=as_json,
        )
    ensure_database()
    prepare_prefect()
    from prefect.exceptions import FailedRun

    from flows.tracking_import import tracking_import

    try:
        summary = asyncio.run(
            tracking_import(
                file=str(file.resolve()),
                file_format=file_format,
                carrier=carrier,
                source="cli",
                file_name=file.name,
            )
        )
    except FailedRun as error:  # the flow's answer to a file it cannot read: the reason
        fail(f"cannot read {file}: {error}", as_json=as_json)
    report = {
        "import_id": summary.import_id,
        "rows": summary.rows,
        "imported": summary.imported,
        "already_known": summary.already_known,
        "rejected": summary.rejected,
    }

    def text() -> str:
        head = (
            f"import {summary.import_id}: {summary.rows} rows, {summary.imported} "
            f"imported, {summary.already_known} already known, {len(summary.rejected)} rejected"
        )
        return "\n".join([head, *rejected_lines([r.as_json() for r in summary.rejected])])

    emit(report, as_json=as_json, text=text)
    if summary.rejected:
        raise typer.Exit(int(Exit.ITEMS_FAILED))
