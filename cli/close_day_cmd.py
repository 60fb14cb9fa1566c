"""`liefern close-day --carrier C [--date D]`: the daily closing (Tagesabschluss).

Exit codes: 0 closed and everything reconciled · 1 the closing ran but parcels are not closed,
the carrier refused or failed, or the reconciliation found mismatches · 2 unknown carrier, bad
or future date, or DHL credentials/options missing (nothing was done).
"""

from __future__ import annotations

import asyncio

import typer

from cli.output import Exit, JsonOption, emit, fail
from cli.runtime import ensure_database, prepare_prefect
from connectors.errors import ConnectorError
from core.carriers.numbers import UnknownCarrier, get_carrier
from core.clock import business_today
from core.settings import get_settings
from flows.results import ClosingResult

MISMATCH_LINES = 100


def close_day(
    carrier: str = typer.Option(..., "--carrier", help="dhl, dpd, ups, gls, hermes, …"),
    day: str = typer.Option(None, "--date", help="YYYY-MM-DD, default today"),
    as_json: bool = JsonOption,
) -> None:
    """Close the day with the carrier, write the shipping list, reconcile the day."""
    settings = get_settings()
    prepare_prefect(settings)  # before anything imports prefect
    from flows.close_day import ClosingFailed, parse_day
    from flows.close_day import close_day as close_day_flow
    from tasks.closing import DHL, dhl_options
    from tasks.guard import RunOverlap

    try:
        code = get_carrier(carrier).code
        the_day = parse_day(day, today=business_today())
    except (UnknownCarrier, ValueError) as error:
        fail(str(error), as_json=as_json)
    if code == DHL:
        try:
            dhl_options(settings.accounts_path)
        except (ConnectorError, ValueError) as error:
            fail(str(error), as_json=as_json)
    ensure_database(settings)
    try:
        result = asyncio.run(close_day_flow(carrier=code, day=the_day.isoformat()))
    except ClosingFailed as failed:
        result = failed.result
    except RunOverlap as error:
        fail(str(error), as_json=as_json, code=Exit.ITEMS_FAILED)
    emit(result, as_json=as_json, text=lambda: format_closing(result))
    if result.errors or result.mismatches:
        raise typer.Exit(int(Exit.ITEMS_FAILED))


def format_closing(result: ClosingResult) -> str:
    counts, files = result.counts, result.files
    state = result.status.replace("_", " ")
    lines = [
        f"{result.carrier_name} {result.day}: {state} · {counts.parcels} parcels, "
        f"{counts.closed} closed ({counts.newly_closed} in this run)",
        f"  shipping list: {files.shipping_list_pdf}"
        + ("" if result.written.shipping_list else " (unchanged)"),
        f"                 {files.shipping_list_csv}",
    ]
    if files.carrier_pdf:
        unchanged = "" if result.written.carrier_pdf else " (unchanged)"
        lines.append(f"  DHL manifest:  {files.carrier_pdf}{unchanged}")
    for portal, by_check in result.reconciliation.portals.items():
        parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in by_check.as_json().items())
        lines.append(f"  {portal}: {parts}")
    mismatches = result.mismatches
    if mismatches:
        lines.append(f"  mismatches ({len(mismatches)}):")
        lines += [
            f"    {m.order_no} {m.tracking_number or 'untracked'}: {m.problem}"
            for m in mismatches[:MISMATCH_LINES]
        ]
        if len(mismatches) > MISMATCH_LINES:
            lines.append(f"    … and {len(mismatches) - MISMATCH_LINES} more (use --json for all)")
    lines += [f"  error: {error}" for error in result.errors]
    return "\n".join(lines)
