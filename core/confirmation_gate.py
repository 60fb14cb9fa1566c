"""Whether a portal may be told yet: the account's `confirm_after` against the shipping mail.

The product's rule from its origin (real.de): the marketplace is told that an order shipped
only once the buyer's "Ware unterwegs" mail went out. A mail suppressed by policy (Amazon and
Kaufland mail the buyer themselves) counts as done under the default `mail_settled`. A mail
that failed, or that is still waiting (not sent yet, waiting for the mail server, outcome
unknown), holds the confirmation: its ledger row stays `held` with the reason, and is released
when the mail is sent later or when an operator releases it (`liefern portals release`).

Pure: the callers bring the mail's state and any operator release.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.accounts import AccountOptions

# confirm_after -> the mail statuses that let the portal be told (None: any, even no mail)
OPEN_FOR: dict[str, frozenset[str] | None] = {
    "mail_sent": frozenset({"sent"}),
    "mail_settled": frozenset({"sent", "suppressed"}),
    "always": None,
}


@dataclass(frozen=True)
class MailState:
    """The order's shipping mail as the gate sees it (None: no ledger row yet)."""

    status: str | None
    reason: str | None = None


@dataclass(frozen=True)
class Hold:
    code: str  # mail_failed | mail_pending | mail_suppressed: the ledger row's error_code
    text: str  # the ledger row's error_text: why, and what to do next


def hold_for(
    options: AccountOptions, *, order_no: str, mail: MailState, released: bool = False
) -> Hold | None:
    """Why this order's confirmation must wait, or None when the portal may be told now."""
    allowed = OPEN_FOR[options.confirm_after]
    if released or allowed is None or mail.status in allowed:
        return None
    release = f"liefern portals release {order_no} --reason TEXT"
    if mail.status == "failed":
        return Hold(
            "mail_failed",
            f"shipping mail failed ({mail.reason or 'no reply recorded'}); {options.portal} is "
            f"told once the mail is sent, or after `{release}`",
        )
    if mail.status == "suppressed":
        return Hold(
            "mail_suppressed",
            f'shipping mail suppressed ({mail.reason}) but confirm_after = "mail_sent" for '
            f'{options.portal} account {options.account}: set confirm_after = "mail_settled" '
            f"in accounts.toml, or `{release}`",
        )
    waiting = f": {mail.reason}" if mail.reason else ""
    return Hold(
        "mail_pending",
        f"shipping mail not sent yet{waiting}; {options.portal} is told once it is sent, "
        f"or after `{release}`",
    )
