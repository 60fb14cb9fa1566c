"""`liefern portals poll`."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from cli.output import Exit, JsonOption, emit
from cli.runtime import ensure_database, prepare_prefect

app = typer.Typer(help="Marketplace confirmations.", no_args_is_help=True)


@app.command("poll")
def poll(as_json: bool = JsonOption) -> None:
    """Fetch Amazon's processing results and resubmit confirmations that went back to pending."""
    ensure_database()
    prepare_prefect()
    from flows.confirm import poll_portals

    summary = asyncio.run(poll_portals())
    emit(summary, as_json=as_json, text=lambda: format_poll(summary))
    if summary["errors"] or any(
        counts.get("rejected") or counts.get("failed")
        for counts in (summary["polled"]["totals"], summary["resubmitted"]["totals"])
    ):
        raise typer.Exit(int(Exit.ITEMS_FAILED))


def format_poll(summary: dict[str, Any]) -> str:
    lines = [
        f"{portal}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        for portal, counts in sorted(summary["portals"].items())
    ] or ["no confirmations yet"]
    lines += [
        f"  {p['status']}: order {p['order_no']}: {p['reason']}" for p in summary["problems"][:100]
    ]
    lines += [f"  error: {e}" for e in summary["errors"]]
    return "\n".join(lines)
