"""`liefern deliver` and `liefern mails preview`."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import typer

from cli.output import Exit, JsonOption, emit, fail, fail_setup
from cli.runtime import ensure_database, prepare_prefect
from core.accounts import Accounts
from core.carriers.numbers import UnknownCarrier, get_carrier
from core.mail_waits import minute, waiting_line, waiting_lines
from core.run_verdict import RunFailed, deliver_verdict
from core.settings import get_settings
from core.setup_error import SetupError
from db.queries.mails import release_waiting_mails, waiting_mails
from db.queries.orders import get_order
from db.session import session_scope
from flows.results import DeliverResult, MailsWaiting

mails_app = typer.Typer(help="Shipping mails.", no_args_is_help=True)


def deliver(
    carrier: list[str] = typer.Option(None, "--carrier", help="Only these carriers (repeat)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Render everything, send nothing."),
    batch_size: int = typer.Option(5000, "--batch-size", min=1),
    retry_now: bool = typer.Option(
        False,
        "--retry-now",
        help="Also send mails waiting for the mail server before their retry time "
        "(after fixing the mail server or LIEFERN_SMTP_URL).",
    ),
    order: list[str] = typer.Option(
        None, "--order", help="Only these orders (repeat), now: mail, then their portals."
    ),
    resend: bool = typer.Option(
        False, "--resend", help="With --order: mail again where the mail went already."
    ),
    by: str = typer.Option(None, "--by", help="With --order: who acts (default: login name)."),
    as_json: bool = JsonOption,
) -> None:
    """Mark shipped, send the shipping mails grouped by carrier, confirm to the portals."""
    if order:
        if carrier or dry_run or retry_now:
            fail("--order goes alone (no --carrier, --dry-run, --retry-now)", as_json=as_json)
        from cli.actions_cmd import deliver_orders_now

        deliver_orders_now(order, resend=resend, by=by, as_json=as_json)
        return
    if resend or by:
        fail("--resend and --by go with --order", as_json=as_json)
    try:
        carriers = [get_carrier(c).code for c in carrier] if carrier else None
    except UnknownCarrier as error:
        fail(str(error), as_json=as_json)
    settings = get_settings()
    try:
        settings.require_real_secret()
        settings.smtp()
        Accounts.load(settings.accounts_path)  # a misspelt choice stops here, named
    except SetupError as error:
        fail_setup(error, as_json=as_json)
    except (RuntimeError, ValueError) as error:
        fail(str(error), as_json=as_json)
    url = ensure_database(settings)
    if retry_now and not dry_run:
        with session_scope(url) as session:
            release_waiting_mails(session, carriers=carriers)
    prepare_prefect(settings)
    from flows.deliver import deliver as deliver_flow
    from flows.deliver import deliver_locks
    from tasks.guard import RunOverlap, current_overlap
    from tasks.ledger import waiting_carriers

    locks = [] if dry_run else deliver_locks(waiting_carriers(url, carriers))
    held = current_overlap(url, locks)
    if held is not None:  # answered before a flow run (and Prefect's server) starts
        fail(held.message, as_json=as_json, hint=held.hint)
    try:
        summary = asyncio.run(
            deliver_flow(carriers=carriers, dry_run=dry_run, batch_size=batch_size)
        )
    except RunOverlap as overlap:  # another live run holds a carrier: one line, no traceback
        fail(overlap.message, as_json=as_json, hint=overlap.hint)
    except RunFailed as failed:  # a portal errored: the run ended Failed, its result says why
        summary = failed.result(DeliverResult)
    if not dry_run:
        summary = add_waiting(summary, url, carriers)
    emit(summary, as_json=as_json, text=lambda: format_summary(summary))
    if has_failures(summary):
        raise typer.Exit(int(Exit.ITEMS_FAILED))


def add_waiting(summary: DeliverResult, db_url: str, carriers: list[str] | None) -> DeliverResult:
    """Mails (of this run or earlier ones) waiting for the mail server: they did not go yet."""
    with session_scope(db_url) as session:
        waiting = waiting_mails(session, carriers=carriers)
    if not waiting.mails:
        return summary
    not_before = minute(waiting.not_before) if waiting.not_before else None
    return replace(summary, mails_waiting=MailsWaiting(waiting.mails, not_before, waiting.reason))


def has_failures(summary: DeliverResult) -> bool:
    """Exit 1 exactly when the run did not end plain Completed (core/run_verdict.py), or mails
    of earlier runs still wait for the mail server."""
    return not deliver_verdict(summary).ok or summary.mails_waiting is not None


def format_summary(summary: DeliverResult) -> str:
    lines = waiting_lines(
        [
            (p.order_no, p.reply or p.reason, p.not_before or "")
            for p in summary.problems
            if p.status == "waiting"
        ]
    )
    if not lines and summary.mails_waiting:  # left by earlier runs, not due yet
        waiting = summary.mails_waiting
        reply = (waiting.reason or "").split(": ", 1)[-1]
        lines.append(waiting_line(waiting.mails, reply, waiting.not_before or "now"))
    if not summary.carriers:
        nothing = "nothing to deliver: no orders with parcels waiting for their shipping mail"
        return "\n".join(lines) if lines else nothing
    return "\n".join([*_counts_and_problems(summary), *lines])


def _counts_and_problems(summary: DeliverResult) -> list[str]:
    lines = []
    for carrier, counts in summary.carriers.items():
        parts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(counts.items()))
        lines.append(f"{carrier}: {parts}")
    for entry in (summary.preview or ())[:200]:
        what = entry.subject or entry.reason or ""
        lines.append(f"  {entry.action:8} {entry.order_no} → {entry.to}: {what}")
    problems = [p for p in summary.problems if p.status != "waiting"]  # grouped below
    for problem in problems[:100]:
        lines.append(f"  {problem.status}: order {problem.order_no}: {problem.reason}")
    confirmations = summary.confirmations
    if confirmations:
        for portal, counts in (confirmations.portals or {}).items():
            parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
            lines.append(f"{portal}: {parts}")
        for error in confirmations.errors:
            lines.append(f"  {error}")
    return lines


@mails_app.command("preview")
def preview(
    order_no: str,
    out: Path = typer.Option(None, "--out", help="Write an .eml or .html file instead."),
    carrier: str = typer.Option(None, "--carrier", help="Render as the run of this carrier."),
    as_json: bool = JsonOption,
) -> None:
    """Render the shipping mail of one order."""
    from tasks.mails import MailComposer

    settings = get_settings()
    url = ensure_database(settings)
    with session_scope(url) as session:
        order = get_order(session, order_no=order_no)
        if order is None:
            fail(f"no order {order_no!r}", as_json=as_json)
        if not order.parcels:
            fail(
                f"order {order_no} has no parcel yet: add a tracking number first", as_json=as_json
            )
        accounts = Accounts.load(settings.accounts_path)
        composer = MailComposer(settings, accounts, carrier or order.parcels[0].carrier)
        rendered = composer.render(order)
        mail = composer.build(order, order.order_no, rendered)
        subject, language = rendered.subject, composer.language(order)
    if out:
        out.write_bytes(mail.data if out.suffix != ".html" else rendered.html.encode())
    result = {
        "order_no": order_no,
        "to": order.buyer_email,
        "subject": subject,
        "message_id": mail.message_id,
        "language": language,
        "file": str(out) if out else None,
        "text": rendered.text,
    }
    emit(
        result,
        as_json=as_json,
        text=lambda: (
            f"wrote {out}"
            if out
            else f"To: {order.buyer_email}\nSubject: {subject}\n\n{rendered.text}"
        ),
    )
