"""Shipping mails waiting for the mail server: when to try again, and what the operator can do.

A mail the server did not take for a reason the mail is not to blame for (the relay is down,
the login is refused, the server answers 4xx) stays `pending` in the ledger with a reason that
starts with WAITING, its attempts and a not-before time; deliver runs leave it alone until then,
and the wait doubles with every run that tried it, so scheduled runs back off instead of
hammering a server that is down.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

WAITING = "waiting for the mail server"
MAX_WAIT = timedelta(hours=2)

# what the operator can do, by the server's last reply (first match wins)
_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"^TLS failed", re.IGNORECASE),
        "check the mail server's certificate and the TLS part of LIEFERN_SMTP_URL",
    ),
    (
        re.compile(r"^53[05] |auth", re.IGNORECASE),
        "check the user and password in LIEFERN_SMTP_URL",
    ),
    (
        re.compile(r"^(connect failed|no answer)", re.IGNORECASE),
        "check that the mail server in LIEFERN_SMTP_URL runs and can be reached from here",
    ),
    (
        re.compile(r"^4\d\d "),
        "the mail server refuses for the time being; ask its operator if this lasts",
    ),
    (
        re.compile(r"^5\d\d "),
        "the mail server refuses the sender or the connection: check LIEFERN_MAIL_FROM and "
        "LIEFERN_SMTP_URL with its operator",
    ),
)


def waiting_reason(reply: str) -> str:
    return f"{WAITING}: {reply}"


def is_waiting(reason: str | None) -> bool:
    return reason is not None and reason.startswith(WAITING)


def next_try(now: datetime, *, tries: int, base_seconds: float) -> datetime:
    """The earliest time a later run tries the mail again: base doubled per try, capped."""
    seconds = base_seconds * 2 ** max(tries - 1, 0)
    return now + min(timedelta(seconds=seconds), MAX_WAIT)


def hint(reply: str) -> str:
    """What to do about a waiting mail, in one clause, judged by the server's last reply."""
    for pattern, text in _HINTS:
        if pattern.search(reply):
            return text
    return "check the mail server in LIEFERN_SMTP_URL"


def waiting_line(count: int, reply: str, not_before: str) -> str:
    """One line for the operator: how many wait, why, until when, and what to do."""
    mails = "mail" if count == 1 else "mails"
    return (
        f"{count} {mails} {WAITING} ({reply}): {hint(reply)}; they go out with the first "
        f"deliver run after {not_before} (once fixed, at once: liefern deliver --retry-now), "
        "nothing is lost"
    )


def minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def waiting_lines(
    waiting: Sequence[tuple[str, str, str]], *, orders_per_line: int = 20
) -> list[str]:
    """One line per server reply for the mails a run left waiting, with what to do and the
    order numbers; `waiting` holds each mail's (order number, server reply, not before)."""
    by_reply: dict[str, list[tuple[str, str]]] = {}
    for order_no, reply, not_before in waiting:
        by_reply.setdefault(reply, []).append((order_no, not_before))
    lines = []
    for reply, mails in by_reply.items():
        orders = [order_no for order_no, _ in mails]
        shown = ", ".join(orders[:orders_per_line])
        more = f" and {len(orders) - orders_per_line} more" if len(orders) > orders_per_line else ""
        not_before = min(not_before for _, not_before in mails)
        lines.append(f"{waiting_line(len(mails), reply, not_before)} (orders {shown}{more})")
    return lines
