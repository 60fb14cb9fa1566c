"""`liefern portals poll` and `liefern portals release ORDER_NO ...`."""

from __future__ import annotations

import asyncio
import getpass

import typer

from cli.output import Exit, JsonOption, emit, fail
from cli.runtime import ensure_database, prepare_prefect
from core.accounts import Accounts, AccountsError
from core.run_verdict import RunFailed, poll_verdict
from core.settings import get_settings
from flows.results import PollResult

app = typer.Typer(help="Marketplace confirmations.", no_args_is_help=True)


@app.command("poll")
def poll(as_json: bool = JsonOption) -> None:
    """Fetch Amazon's processing results and resubmit confirmations that went back to pending."""
    ensure_database()
    prepare_prefect()
    from flows.confirm import poll_portals

    try:
        summary = asyncio.run(poll_portals())
    except RunFailed as failed:  # a portal errored: the run ended Failed, its result says why
        summary = failed.result(PollResult)
    emit(summary, as_json=as_json, text=lambda: format_poll(summary))
    if not poll_verdict(summary).ok:  # the run ended Failed or Completed with problems
        raise typer.Exit(int(Exit.ITEMS_FAILED))


def format_poll(summary: PollResult) -> str:
    lines = [
        f"{portal}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        for portal, counts in sorted(summary.portals.items())
    ] or ["no confirmations yet"]
    lines += [f"  {p.status}: order {p.order_no}: {p.reason}" for p in summary.problems[:100]]
    lines += [f"  error: {e}" for e in summary.errors]
    return "\n".join(lines)


@app.command("release")
def release(
    order_nos: list[str] = typer.Argument(..., metavar="ORDER_NO...", help="Order numbers."),
    reason: str = typer.Option(..., "--reason", help="Why the portal may be told anyway."),
    by: str = typer.Option(None, "--by", help="Who releases (default: the login name)."),
    portal: str = typer.Option(None, "--portal", help="Only this portal's confirmations."),
    as_json: bool = JsonOption,
) -> None:
    """Let confirmations held for the shipping mail go: the next deliver run or poll sends them."""
    if not reason.strip():
        fail("--reason must say why the portal may be told without the mail", as_json=as_json)
    settings = get_settings()
    try:
        accounts = Accounts.load(settings.accounts_path)
    except AccountsError as error:
        fail(str(error), as_json=as_json)
    url = ensure_database(settings)
    from tasks.holds import release_orders

    report = release_orders(
        url,
        order_nos=order_nos,
        by=(by or _login()).strip(),
        reason=reason.strip(),
        accounts=accounts,
        portal=portal,
    )
    result = {"released": report.released, "problems": report.problems}

    def text() -> str:
        lines = [
            f"{r['order_no']}: {r['portal']} released ({r['rows']} confirmation(s)); "
            "the next deliver run or `liefern portals poll` tells the portal"
            for r in report.released
        ]
        return "\n".join(lines + [f"{p['order_no']}: {p['reason']}" for p in report.problems])

    emit(result, as_json=as_json, text=text)
    if report.problems:
        raise typer.Exit(int(Exit.ITEMS_FAILED))


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a container without a passwd entry
        return "operator"
