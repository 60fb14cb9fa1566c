"""Bounces that come later: delivery status notifications (RFC 3464) read from .eml or mbox.

A DSN is a `multipart/report; report-type=delivery-status` (RFC 6522) whose second part,
`message/delivery-status`, holds one group of per-message fields and one group per recipient
(`Final-Recipient`, `Action`, `Status`, `Diagnostic-Code`); the third part returns the original
message (`message/rfc822`) or its headers (`text/rfc822-headers`), whose Message-ID names the
shipping mail. Only `Action: failed` is a bounce; `delayed` is the relay still trying
(RFC 3464 2.3.3), and is reported but changes nothing.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32
from pathlib import Path

from core.bounces import classify


@dataclass(frozen=True)
class Bounce:
    source: str  # the file (and message number in an mbox)
    message_id: str | None  # the original mail's, with its angle brackets
    recipient: str | None
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # the enhanced status code, 5.1.1
    diagnostic: str  # the remote server's reply, or the status when none is given
    bounce_class: str | None


def read_bounce_files(paths: list[Path]) -> Iterator[Bounce | str]:
    """Each DSN's recipients as `Bounce`s; a message that is no DSN as a line saying so."""
    for path in paths:
        data = path.read_bytes()
        if data.startswith(b"From "):  # mbox (RFC 4155): one "From " line before each message
            box = mailbox.mbox(path, create=False)
            try:
                for number, message in enumerate(box, start=1):
                    yield from read_dsn(message, f"{path.name}#{number}")
            finally:
                box.close()
        else:
            yield from read_dsn(message_from_bytes(data, policy=compat32), path.name)


def read_dsn(message: Message, source: str) -> Iterator[Bounce | str]:
    if message.get_content_type() != "multipart/report":
        yield f"{source}: not a delivery status notification ({message.get_content_type()})"
        return
    groups: list[Message] = []
    original: str | None = None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            groups = _status_groups(part)
        elif kind == "message/rfc822" and original is None:
            inner = part.get_payload()
            returned = inner[0] if isinstance(inner, list) and inner else None
            original = returned.get("Message-ID") if isinstance(returned, Message) else None
        elif kind == "text/rfc822-headers" and original is None:
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                original = BytesHeaderParser().parsebytes(raw).get("Message-ID")
    recipients = groups[1:]  # the first group is about the message, the others one recipient
    if not recipients:
        yield f"{source}: no per-recipient status in the report"
        return
    message_id = _clean(original)
    for group in recipients:
        status = _clean(group.get("Status")) or ""
        diagnostic = _diagnostic(group.get("Diagnostic-Code")) or status
        yield Bounce(
            source=source,
            message_id=message_id,
            recipient=_address(group.get("Final-Recipient") or group.get("Original-Recipient")),
            action=(_clean(group.get("Action")) or "").lower(),
            status=status,
            diagnostic=diagnostic,
            bounce_class=classify(f"{status} {diagnostic}"),
        )


def _status_groups(part: Message) -> list[Message]:
    """The field groups of a message/delivery-status part (the email package parses them into
    sub-messages; a part it left as text is parsed here)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else ""
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return [HeaderParser().parsestr(b) for b in blocks]


def _clean(value: object) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text or None


def _diagnostic(value: object) -> str | None:
    """`smtp; 550 5.1.1 user unknown` -> `550 5.1.1 user unknown` (RFC 3464 2.3.6)."""
    text = _clean(value)
    if text and ";" in text:
        kind, _, rest = text.partition(";")
        if kind.strip().lower() in ("smtp", "x-postfix", "x-unix"):
            return rest.strip()
    return text


def _address(value: object) -> str | None:
    """`rfc822; kunde@example.org` -> `kunde@example.org` (RFC 3464 2.3.2)."""
    text = _clean(value)
    return text.partition(";")[2].strip() or text if text else None
