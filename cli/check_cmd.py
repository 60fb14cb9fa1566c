"""`liefern check`: is the sender domain authenticated for the SMTP relay (SPF, DKIM, DMARC)?

Exit 1 when a finding is an error (mails are likely refused or filed as spam), 0 otherwise;
`liefern serve` runs the same check at start and warns without refusing to start.
"""

from __future__ import annotations

import typer

from cli.output import Exit, JsonOption, emit, fail
from connectors.sender_auth.check import ERROR, OK, SenderCheck, check_sender
from core.settings import get_settings


def check(as_json: bool = JsonOption) -> None:
    """Check SPF, DKIM and DMARC of the sender domain against the SMTP relay."""
    settings = get_settings()
    try:
        report = check_sender(settings)
    except ValueError as error:  # LIEFERN_SMTP_URL or LIEFERN_DNS_RESOLVER unreadable
        fail(str(error), as_json=as_json)
    emit(report.as_dict(), as_json=as_json, text=lambda: "\n".join(report_lines(report)))
    if report.level == ERROR:
        raise typer.Exit(int(Exit.ITEMS_FAILED))


def report_lines(report: SenderCheck, *, only_problems: bool = False) -> list[str]:
    """The findings for people: one line each, and the fix under each one that has one."""
    relay = report.relay
    if report.relay_addresses and report.relay_addresses != [relay]:
        relay += f" ({', '.join(report.relay_addresses)})"
    lines = [] if only_problems else [f"sender domain {report.domain}, SMTP relay {relay}"]
    for finding in report.findings:
        if only_problems and finding.level == OK:
            continue
        lines.append(f"  {finding.level:<8} {finding.message}")
        if finding.fix:
            lines.append(f"  {'':<8} fix: {finding.fix}")
    if not only_problems:
        lines.append(f"deliverability: {report.summary()}")
    return lines
