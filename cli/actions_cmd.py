"""The operator's actions on single orders: `liefern deliver --order`, `liefern mails resend`,
`liefern portals retry` (the functions underneath: tasks/actions.py)."""

from __future__ import annotations

import asyncio
import getpass
from dataclasses import asdict
from typing import Any

import typer

from cli.deliver_cmd import mails_app
from cli.output import Exit, JsonOption, emit, fail, fail_setup
from cli.portals_cmd import app as portals_app
from cli.runtime import ensure_database
from core.accounts import Accounts
from core.carriers.numbers import UnknownCarrier, get_carrier
from core.settings import get_settings
from core.setup_error import SetupError

ByOption = typer.Option(None, "--by", help="Who acts, for the protocol (default: login name).")


def operator(by: str | None) -> str:
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a container without a passwd entry
        return "operator"


def checked_setup(*, as_json: bool, mails: bool = True) -> str:
    """The database url, after the settings an action needs were checked (one line if not)."""
    settings = get_settings()
    try:
        settings.require_real_secret()
        if mails:
            settings.smtp()
        Accounts.load(settings.accounts_path)
    except SetupError as error:
        fail_setup(error, as_json=as_json)
    except (RuntimeError, ValueError) as error:
        fail(str(error), as_json=as_json)
    return ensure_database(settings)


def answer(result: Any, *, as_json: bool) -> None:
    """Print the action's result (one line per order, then the portals) and exit 1 when an
    order did not get what was asked."""
    data = {
        "orders": [asdict(o) for o in result.orders],
        "confirmations": result.confirmations,
        "errors": result.errors,
    }

    def text() -> str:
        lines = [f"{o.order_no}: {o.detail}" for o in result.orders]
        for portal, counts in sorted(result.confirmations.items()):
            lines.append(f"{portal}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
        lines += [f"error: {e}" for e in result.errors]
        return "\n".join(lines) or "nothing to do"

    emit(data, as_json=as_json, text=text)
    if result.failed:
        raise typer.Exit(int(Exit.ITEMS_FAILED))


def deliver_orders_now(
    order_nos: list[str], *, resend: bool, by: str | None, as_json: bool
) -> None:
    """`liefern deliver --order …`: the named orders' mails now, then their portals."""
    url = checked_setup(as_json=as_json)
    from tasks.actions import deliver_orders

    result = asyncio.run(deliver_orders(url, order_nos=order_nos, by=operator(by), resend=resend))
    answer(result, as_json=as_json)


@mails_app.command("resend")
def resend(
    order_nos: list[str] = typer.Argument(None, metavar="[ORDER_NO]...", help="Order numbers."),
    failed: bool = typer.Option(False, "--failed", help="Every order whose mail failed."),
    carrier: str = typer.Option(None, "--carrier", help="With --failed: this carrier's runs."),
    force: bool = typer.Option(
        False, "--force", help="Also mails already sent: a second mail, new Message-ID."
    ),
    by: str = ByOption,
    as_json: bool = JsonOption,
) -> None:
    """Send shipping mails again, after fixing the address or the mail server."""
    if not order_nos and not failed:
        fail("name the orders, or --failed for every order whose mail failed", as_json=as_json)
    if carrier and not failed:
        fail("--carrier goes with --failed", as_json=as_json)
    try:
        code = get_carrier(carrier).code if carrier else None
    except UnknownCarrier as error:
        fail(str(error), as_json=as_json)
    url = checked_setup(as_json=as_json)
    from tasks.actions import resend_mails

    result = asyncio.run(
        resend_mails(
            url,
            by=operator(by),
            order_nos=order_nos or [],
            failed=failed,
            carrier=code,
            force=force,
        )
    )
    answer(result, as_json=as_json)


@portals_app.command("retry")
def retry(
    order_nos: list[str] = typer.Argument(None, metavar="[ORDER_NO]...", help="Order numbers."),
    failed: bool = typer.Option(False, "--failed", help="Every failed confirmation."),
    rejected: bool = typer.Option(
        False, "--rejected", help="Rejected ones too (fix the cause first)."
    ),
    portal: str = typer.Option(None, "--portal", help="Only this portal's confirmations."),
    later: bool = typer.Option(
        False, "--later", help="Only back to pending: the next deliver run or poll submits."
    ),
    by: str = ByOption,
    as_json: bool = JsonOption,
) -> None:
    """Tell the portals again where a confirmation failed (or was rejected)."""
    if not order_nos and not failed:
        fail("name the orders, or --failed for every failed confirmation", as_json=as_json)
    url = checked_setup(as_json=as_json, mails=False)
    from tasks.actions import retry_confirmations

    result = asyncio.run(
        retry_confirmations(
            url,
            by=operator(by),
            order_nos=order_nos or [],
            failed=failed,
            rejected=rejected,
            portal=portal,
            later=later,
        )
    )
    answer(result, as_json=as_json)
