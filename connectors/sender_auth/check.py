"""The sender check: is the From domain's mail authenticated when it leaves by the SMTP relay?

Why it matters: since February 2024 Gmail and Yahoo require SPF or DKIM of every sender, and
SPF, DKIM and DMARC (p=none at least, SPF or DKIM aligned with the From domain) of senders of
more than 5,000 mails a day (Google's "Email sender guidelines", support.google.com/a/answer/
81126, as quoted by help.pure360.com "Yahoo & Google 2024 Sender Guidelines"); since May 2025
Microsoft rejects such mail to Outlook.com with 550 5.7.515 (support.microsoft.com "Fix NDR
error 550 5.7.515 in Outlook.com"). A shop's shipping mails in the season reach that volume.

Checks, each an `ok`, `warning` or `error` finding with one line saying what to fix:

* SPF (RFC 7208): the domain's record, evaluated for each address of the relay host.
* DKIM (RFC 6376 3.6.1): the public key at `<selector>._domainkey.<domain>` (LIEFERN_DKIM_
  SELECTOR); liefern does not sign, the relay does, so only the published key is checked.
* DMARC (RFC 7489 6.1, 6.3): `_dmarc.<domain>`, else the organisational domain's; its policy,
  and whether mail from the relay can pass it: SPF or DKIM passing, aligned with the From
  domain. The envelope sender is the From address (connectors/smtp), and the DKIM key is
  looked up under the From domain, so both are aligned in strict and relaxed mode alike.

The organisational domain is the From domain's registrable part by the Public Suffix List, as
RFC 7489 3.2 asks (`mail.shop.co.uk` → `shop.co.uk`): the `publicsuffixlist` package carries a
copy of the list, so the check needs no download.
The relay's address is the one this machine connects to; a provider's smarthost may send on
from other addresses, which the provider's own `include:` covers (the fix says so).
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

from publicsuffixlist import PublicSuffixList

from connectors.sender_auth.lookup import DnsLookup, DnsUnreachable
from connectors.sender_auth.spf import check_spf
from connectors.smtp.message import address_of
from core.settings import Settings

OK, WARNING, ERROR = "ok", "warning", "error"


@dataclass
class Finding:
    check: str  # spf | dkim | dmarc | dns
    level: str  # ok | warning | error
    message: str
    fix: str = ""


@dataclass
class SenderCheck:
    domain: str
    relay: str
    relay_addresses: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None  # why nothing could be checked (no DNS)

    @property
    def level(self) -> str:
        levels = {f.level for f in self.findings}
        return ERROR if ERROR in levels else WARNING if WARNING in levels else OK

    def summary(self) -> str:
        """One line: `SPF ok, DKIM ok (selector liefern), DMARC p=quarantine ok`."""
        if self.skipped:
            return f"skipped: no DNS ({self.skipped})"
        return ", ".join(f.message.split(":")[0] for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "level": self.level, "summary": self.summary()}


def check_sender(settings: Settings, lookup: DnsLookup | None = None) -> SenderCheck:
    """Look the sender domain up and judge it; never raises for DNS trouble (a finding)."""
    domain = address_of(settings.mail_from).rpartition("@")[2].lower()
    relay = settings.smtp().host
    report = SenderCheck(domain, relay)
    try:
        lookup = lookup or DnsLookup(settings.dns_resolver, timeout=settings.dns_timeout_seconds)
        report.relay_addresses = _relay_addresses(lookup, relay)
        spf = _spf(lookup, domain, report.relay_addresses)
        dkim = _dkim(lookup, domain, settings.dkim_selector)
        dmarc = _dmarc(lookup, domain, spf_passes=spf.level == OK, dkim_ok=dkim.level == OK)
    except DnsUnreachable as error:
        report.skipped = str(error)
        report.findings = [
            Finding(
                "dns",
                WARNING,
                f"DNS not reachable: {error}; SPF, DKIM and DMARC not checked",
                "check the network or set LIEFERN_DNS_RESOLVER=host:port, then `liefern check`",
            )
        ]
        return report
    report.findings = [spf, dkim, dmarc]
    return report


def _relay_addresses(lookup: DnsLookup, relay: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(relay))]
    except ValueError:
        return lookup.addresses(relay)


def _spf(lookup: DnsLookup, domain: str, addresses: list[str]) -> Finding:
    suggestion = (
        " ".join(f"ip{ipaddress.ip_address(a).version}:{a}" for a in addresses)
        or "ip4:<relay address>"
    )
    if not addresses:
        return Finding(
            "spf",
            ERROR,
            "SPF not checked: the relay has no address in DNS",
            "fix LIEFERN_SMTP_URL's host name",
        )
    results = [(a, check_spf(lookup, domain, a)) for a in addresses]
    first = results[0][1]
    if first.result == "none":
        return Finding(
            "spf",
            ERROR,
            f"SPF missing: {domain} has no SPF record",
            f'publish TXT at {domain}: "v=spf1 {suggestion} ~all" (or your mail provider\'s '
            "include:)",
        )
    if first.result == "permerror":
        return Finding(
            "spf",
            ERROR,
            f"SPF broken: {first.problem}",
            f"fix the SPF record of {domain}: {first.record}",
        )
    failing = [(a, r) for a, r in results if r.result != "pass"]
    if failing:
        address, result = failing[0]
        level = ERROR if result.result == "fail" else WARNING
        return Finding(
            "spf",
            level,
            f"SPF {result.result}: the relay {address} is not covered by {domain}'s SPF record",
            f"add {suggestion} (or your mail provider's include:) to the record: {result.record}",
        )
    if first.all_qualifier in ("+", "?"):
        return Finding(
            "spf",
            WARNING,
            f"SPF too open: '{first.all_qualifier}all' lets any server send as {domain}",
            "end the record with ~all or -all",
        )
    notes = f" ({'; '.join(first.notes)})" if first.notes else ""
    ending = f", ends {first.all_qualifier}all" if first.all_qualifier else ""
    return Finding(
        "spf",
        OK,
        f"SPF ok: the relay {', '.join(addresses)} passes ({first.dns_terms} of 10 DNS "
        f"look-ups{ending}){notes}",
    )


def _dkim(lookup: DnsLookup, domain: str, selector: str | None) -> Finding:
    if not selector:
        return Finding(
            "dkim",
            WARNING,
            "DKIM not checked: no selector configured",
            "set LIEFERN_DKIM_SELECTOR to the selector your relay signs with (s= in the "
            "DKIM-Signature header of a mail it sent)",
        )
    name = f"{selector}._domainkey.{domain}"
    records = lookup.txt(name)
    if not records:
        return Finding(
            "dkim",
            ERROR,
            f"DKIM missing: no key at {name}",
            "publish the relay's DKIM public key there (TXT v=DKIM1; k=rsa; p=...)",
        )
    tags = _tags(records[0])
    if not tags.get("p"):
        return Finding(
            "dkim",
            ERROR,
            f"DKIM revoked: the key at {name} is empty (p=)",
            "publish the relay's current public key, or set the selector in use",
        )
    return Finding(
        "dkim",
        OK,
        f"DKIM ok (selector {selector}): key of type {tags.get('k', 'rsa')} published at {name}",
    )


def _dmarc(lookup: DnsLookup, domain: str, *, spf_passes: bool, dkim_ok: bool) -> Finding:
    organisational = _public_suffixes().privatesuffix(domain) or domain
    found_at, records = f"_dmarc.{domain}", _dmarc_records(lookup, domain)
    if not records and organisational != domain:
        found_at, records = f"_dmarc.{organisational}", _dmarc_records(lookup, organisational)
    if not records:
        return Finding(
            "dmarc",
            ERROR,
            f"DMARC missing: no record at _dmarc.{domain}",
            f'publish TXT at _dmarc.{domain}: "v=DMARC1; p=none; rua=mailto:<reports address>" '
            "(Gmail, Yahoo and Microsoft require one of bulk senders)",
        )
    if len(records) > 1:
        return Finding(
            "dmarc",
            ERROR,
            f"DMARC broken: {len(records)} records at {found_at}",
            "keep exactly one (RFC 7489 6.6.3: otherwise none applies)",
        )
    tags = _tags(records[0])
    policy = tags.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return Finding(
            "dmarc",
            ERROR,
            f"DMARC broken: p={policy or '(missing)'} at {found_at}",
            "set p=none, p=quarantine or p=reject",
        )
    alignment = f"SPF {_mode(tags.get('aspf'))}, DKIM {_mode(tags.get('adkim'))} alignment"
    if not (spf_passes or dkim_ok):
        level = WARNING if policy == "none" else ERROR
        what = {
            "none": "are only reported",
            "quarantine": "land in spam folders",
            "reject": "are rejected",
        }[policy]
        return Finding(
            "dmarc",
            level,
            f"DMARC p={policy} fails: neither SPF nor DKIM passes for the relay, so its mails "
            f"{what}",
            "fix SPF or DKIM above; DMARC passes when one of them passes",
        )
    if policy == "none":
        return Finding(
            "dmarc",
            OK,
            f"DMARC p=none ok: mails pass, aligned ({alignment}); monitoring only",
            "p=quarantine also stops others sending in your name, once the reports are clean",
        )
    return Finding("dmarc", OK, f"DMARC p={policy} ok: mails pass, aligned ({alignment})")


@cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # reads the bundled list once (~50 ms)


def _dmarc_records(lookup: DnsLookup, domain: str) -> list[str]:
    return [t for t in lookup.txt(f"_dmarc.{domain}") if t.strip().lower().startswith("v=dmarc1")]


def _mode(value: str | None) -> str:
    return "strict" if (value or "r").lower() == "s" else "relaxed"


def _tags(record: str) -> dict[str, str]:
    """`v=DKIM1; k=rsa; p=MIG...` -> {"v": "DKIM1", "k": "rsa", "p": "MIG..."} (tag-value lists,
    RFC 6376 3.2, RFC 7489 6.4)."""
    tags = {}
    for part in record.split(";"):
        name, _, value = part.partition("=")
        if name.strip():
            tags[name.strip().lower()] = "".join(value.split())
    return tags
