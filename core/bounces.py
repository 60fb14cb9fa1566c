"""What a mail server's refusal says about a shipping mail: its bounce class, and the fix.

The class is read from the reply's enhanced status code (RFC 3463, `5.1.1`) where there is one,
else from the basic code and the words. The classes, and why each code belongs where it does:

    auth               5.7.26 (Gmail: "unauthenticated email ... not accepted due to domain's
                       DMARC policy"), 5.7.515 (Microsoft, since May 2025: "sending domain does
                       not meet the required authentication level"), a 5.7.x naming DMARC, SPF
                       or DKIM (Gmail's 5.7.1 "does not have authentication information"):
                       the sender domain is not authenticated; fix SPF/DKIM/DMARC
                       (`liefern check`). Sources: support.microsoft.com "Fix NDR error 550
                       5.7.515 in Outlook.com"; Gmail's replies as quoted on
                       dmarctrust.com/troubleshooting/unauthenticated-email-rejected.
    unknown_recipient  5.1.1 (bad mailbox), 5.1.2 (bad domain), 5.1.3 (bad address syntax),
                       5.1.10 (Microsoft: recipient not found by its null MX), or a bare 550
                       "user unknown": fix the buyer's address (RFC 3463 X.1.1-X.1.3)
    mailbox_full       X.2.2 (RFC 3463 "mailbox full"): the buyer has to make room; a later
                       attempt may go through
    temporary          any other 4xx: the server asks to try again later (RFC 5321 4.2.1)
    policy             any other 5.7.x (RFC 3463 X.7 "security or policy status"): spam
                       filters, blocklists, content
    other              any other reply with a code

A reply without any code (a connection that broke) is no bounce: `None`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AUTH = "auth"
UNKNOWN_RECIPIENT = "unknown_recipient"
MAILBOX_FULL = "mailbox_full"
TEMPORARY = "temporary"
POLICY = "policy"
OTHER = "other"
BOUNCE_CLASSES = (AUTH, UNKNOWN_RECIPIENT, MAILBOX_FULL, TEMPORARY, POLICY, OTHER)

# what the operator does about each class (CLI and README; the web pages have their own words)
ADVICE = {
    AUTH: "the sender domain is not authenticated: fix its SPF/DKIM/DMARC records "
    "(`liefern check` says which), then resend",
    UNKNOWN_RECIPIENT: "the buyer's address does not exist: get the right one from the portal "
    "or the buyer, then resend",
    MAILBOX_FULL: "the buyer's mailbox is full: resend in a day or two",
    TEMPORARY: "the receiving server asked to try later: the next run sends it again",
    POLICY: "refused by the receiver's spam or policy filter: read the reply, check the "
    "sending relay's reputation and the mail's content",
    OTHER: "refused for another reason: read the server's reply",
}

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_BASIC = re.compile(r"^\s*(?:smtp\s*;\s*)?([2-5])\d\d\b", re.IGNORECASE)
_AUTH_WORDS = re.compile(r"dmarc|\bspf\b|dkim|unauthenticated|authentication", re.IGNORECASE)
_UNKNOWN_WORDS = re.compile(
    r"user unknown|unknown user|no such user|does not exist|recipient not found|"
    r"mailbox unavailable|address rejected|invalid recipient",
    re.IGNORECASE,
)
_FULL_WORDS = re.compile(r"mailbox (?:is )?full|over quota|quota exceeded", re.IGNORECASE)
_AUTH_CODES = {(7, 26), (7, 515)}
_UNKNOWN_CODES = {(1, 1), (1, 2), (1, 3), (1, 10)}


@dataclass(frozen=True)
class StatusCode:
    severity: int  # 2, 4 or 5
    subject: int | None = None  # the enhanced code's middle number (None: basic code only)
    detail: int | None = None


def status_of(reply: str) -> StatusCode | None:
    """The reply's status: its enhanced code if it has one, else the basic code's class."""
    enhanced = _ENHANCED.search(reply)
    if enhanced:
        return StatusCode(*(int(part) for part in enhanced.groups()))
    basic = _BASIC.match(reply)
    return StatusCode(int(basic.group(1))) if basic else None


def classify(reply: str | None) -> str | None:
    """The bounce class of a server's reply (None: no refusal, or no code to read)."""
    status = status_of(reply or "")
    if status is None or status.severity == 2:
        return None
    text = reply or ""
    pair = (status.subject, status.detail)
    if pair in _AUTH_CODES or (status.subject == 7 and _AUTH_WORDS.search(text)):
        return AUTH
    if pair == (2, 2) or (status.subject is None and _FULL_WORDS.search(text)):
        return MAILBOX_FULL
    if status.severity == 4:
        return TEMPORARY
    if pair in _UNKNOWN_CODES or (status.subject is None and _UNKNOWN_WORDS.search(text)):
        return UNKNOWN_RECIPIENT
    if status.subject == 7:
        return POLICY
    return OTHER
