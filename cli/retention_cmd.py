"""`liefern retention run [--dry-run]`: anonymise the buyer data of orders past retention.

Exit codes: 0 the run went through (orders still needing their data are skipped, not
failures) · 1 another retention run holds the lock · 2 accounts.toml or the database unusable.
"""

from __future__ import annotations

import asyncio

import typer

from cli.output import Exit, JsonOption, emit, fail
from cli.runtime import ensure_database, prepare_prefect
from core.clock import BUSINESS_TZ
from core.settings import get_settings
from flows.results import RetentionResult

app = typer.Typer(help="Buyer data retention (Aufbewahrung).", no_args_is_help=True)
SKIPPED_LINES = 100


@app.command("run")
def run(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only say which orders would be anonymised; change nothing."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Anonymise buyer name, email and address of orders past their portal's retention."""
    settings = get_settings()
    prepare_prefect(settings)  # reads accounts.toml: a bad retention_days ends here
    from flows.retention import anonymise_buyers
    from tasks.guard import RunOverlap

    ensure_database(settings)
    try:
        result = asyncio.run(anonymise_buyers(dry_run=dry_run))
    except RunOverlap as error:
        fail(str(error), as_json=as_json, code=Exit.ITEMS_FAILED)
    emit(result, as_json=as_json, text=lambda: format_retention(result))


def format_retention(result: RetentionResult) -> str:
    counts = result.counts
    verb = "would be anonymised" if result.dry_run else "anonymised"
    lines = [
        f"{counts.due} orders past their retention: {counts.anonymised} {verb}, "
        f"{counts.skipped} skipped (data still needed)",
        "  periods (days after delivery): "
        + ", ".join(f"{k} {'keep' if v is None else v}" for k, v in result.rules.items()),
    ]
    for done in result.anonymised[:SKIPPED_LINES]:
        delivered = done.delivered_at.astimezone(BUSINESS_TZ)
        source = "arrived" if done.delivered_from == "arrived" else "ship date + transit"
        lines.append(
            f"  {done.order_no} {done.portal}/{done.account}: delivered "
            f"{delivered:%Y-%m-%d} ({source}), {done.retention_days} days"
        )
    for row in result.skipped[:SKIPPED_LINES]:
        lines.append(f"  {row.order_no} {row.portal}/{row.account}: skipped, {row.reason}")
    shown = min(len(result.anonymised), SKIPPED_LINES) + min(len(result.skipped), SKIPPED_LINES)
    if shown < counts.anonymised + counts.skipped:
        lines.append("  … more with --json")
    return "\n".join(lines)
