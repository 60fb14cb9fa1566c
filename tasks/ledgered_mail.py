"""Single mails outside the deliver run (a correction, a delay notice) through the mail ledger:
each one committed as attempted right before it goes and given its outcome right after the
server answered, so a crash in between leaves an attempted row, never a second mail.

The deliver run's batches have their own writer (tasks/mails.py: claims, crash points, the
mail server's waiting times); these mails are few and need none of that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connectors.smtp.sender import OutgoingMail, SendResult, SmtpSender
from core.settings import Settings
from db.queries.mails import LedgerWriter, MailOutcome
from db.session import get_engine
from db.types import utcnow
from tasks.own_loop import on_own_loop


@dataclass(frozen=True, slots=True)
class LedgeredMail:
    mail: OutgoingMail
    row_id: int  # its shipping_mails row


@dataclass(frozen=True, slots=True)
class Sent:
    row_id: int
    status: str  # sent, failed, or pending (the server put it off: the next run sends it)
    reply: str


def ledger_status(result: SendResult) -> str:
    return {"sent": "sent", "failed": "failed"}.get(result.status, "pending")


async def send_through_ledger(
    db_url: str, mails: Sequence[LedgeredMail], settings: Settings
) -> list[Sent]:
    """Send `mails`; each attempt and outcome is committed before the next step."""
    if not mails:
        return []
    by_key = {m.mail.key: m.row_id for m in mails}
    results: list[Sent] = []
    ledger = LedgerWriter(get_engine(db_url))

    async def before_send(mail: OutgoingMail) -> None:
        ledger.write(attempted=[by_key[mail.key]], outcomes=[], at=utcnow())

    async def on_result(result: SendResult) -> None:
        sent = Sent(by_key[result.key], ledger_status(result), result.reply)
        reason = None if sent.status == "sent" else sent.reply
        outcome = MailOutcome(sent.row_id, sent.status, sent.reply, reason)
        ledger.write(attempted=[], outcomes=[outcome], at=utcnow())
        results.append(sent)

    async def send() -> None:
        async with SmtpSender(
            settings.smtp(),
            connections=min(settings.smtp_connections, len(mails)),
            timeout=settings.smtp_timeout_seconds,
            backoff=settings.smtp_backoff_seconds,
        ) as sender:
            await sender.send_many(
                [m.mail for m in mails], before_send=before_send, on_result=on_result
            )

    try:
        await on_own_loop(send)
    finally:
        ledger.close()
    return results
