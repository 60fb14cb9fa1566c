"""`liefern track [--max-calls N]`: ask the carriers where the parcels are (track-parcels).

Exit codes: 0 every source was asked (or had nothing due) · 1 a source failed (credentials,
the carrier's trouble) or parcels are in trouble (exception, undeliverable, lost, returned).
"""

from __future__ import annotations

import asyncio

import typer

from cli.output import Exit, JsonOption, emit
from cli.runtime import ensure_database, prepare_prefect
from core.run_verdict import RunFailed
from core.settings import get_settings
from flows.results import TrackResult

PROBLEM_LINES = 100


def track(
    max_calls: int = typer.Option(
        None, "--max-calls", min=1, help="At most this many calls per source in this run."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Ask the carriers about undelivered parcels; delivered orders turn arrived."""
    settings = get_settings()
    prepare_prefect(settings)
    ensure_database(settings)
    from flows.track_parcels import track_parcels

    try:
        summary = asyncio.run(track_parcels(max_calls=max_calls))
    except RunFailed as failed:
        summary = failed.result(TrackResult)
    emit(summary, as_json=as_json, text=lambda: format_tracking(summary))
    if summary.errors or summary.problems:
        raise typer.Exit(int(Exit.ITEMS_FAILED))


def format_tracking(summary: TrackResult) -> str:
    lines = []
    for source in summary.sources:
        statuses = ", ".join(f"{n} {s}" for s, n in source.statuses.items()) or "nothing due"
        line = (
            f"{source.source} {source.account}: {source.calls} calls, "
            f"{source.parcels_asked} parcels asked ({statuses})"
        )
        lines.append(line + (f"; stopped: {source.stopped}" if source.stopped else ""))
    if not summary.sources and not summary.errors:
        lines.append("no tracking account in accounts.toml ([tracking.<name>])")
    arrived = summary.arrived
    lines.append(f"{summary.delivered} parcels delivered, {len(arrived)} orders arrived")
    if arrived:
        lines.append("  arrived: " + ", ".join(arrived[:PROBLEM_LINES]))
    lines += [
        f"  {p.status}: order {p.order_no}: {p.reason}" for p in summary.problems[:PROBLEM_LINES]
    ]
    lines += [f"  error: {e}" for e in summary.errors]
    watched = summary.watchlist.count
    if watched:
        noun = "parcel needs" if watched == 1 else "parcels need"
        lines.append(f"problems list: {watched} {noun} a look (liefern problems)")
    sent = summary.delay_mails.sent
    if sent:
        lines.append("delay mail sent: " + ", ".join(sent[:PROBLEM_LINES]))
    return "\n".join(lines)
