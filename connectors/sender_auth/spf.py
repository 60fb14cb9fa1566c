"""SPF's `check_host()` (RFC 7208 section 4) for the relay's addresses, as far as a shop needs.

Evaluated: the record (`v=spf1`, exactly one: 4.5), the mechanisms `all`, `ip4`, `ip6`, `a`,
`mx`, `include` and `exists` (5.1-5.7), the `redirect` modifier (6.1), qualifiers (4.6.2), and
the limits of 4.6.4: at most 10 terms that cause DNS queries (include, a, mx, ptr, exists,
redirect) in the whole evaluation, at most 10 MX names per `mx`, at most 2 void look-ups;
beyond them the result is `permerror`, which receivers treat as a failed SPF.

Not evaluated: macros (`%{i}`, section 7) and `ptr` (5.5, "SHOULD NOT be used"): such a term
counts against the limit, never matches, and is named in the result's notes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Protocol

MAX_DNS_TERMS = 10  # RFC 7208 4.6.4
MAX_MX_NAMES = 10  # RFC 7208 4.6.4
MAX_VOID_LOOKUPS = 2  # RFC 7208 4.6.4, "SHOULD", the recommended default
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


class Lookup(Protocol):
    def txt(self, name: str) -> list[str]: ...
    def mx(self, name: str) -> list[str]: ...
    def addresses(self, name: str) -> list[str]: ...


class PermError(Exception):
    """The policy cannot be evaluated (RFC 7208 2.6.7): a fix in the record is needed."""


@dataclass
class SpfResult:
    result: str  # pass | fail | softfail | neutral | none | permerror
    record: str | None = None  # the domain's own record
    matched: str | None = None  # the term that decided
    all_qualifier: str | None = None  # the top record's `all` (`-`, `~`, `?`, `+`)
    dns_terms: int = 0
    problem: str | None = None  # permerror: why
    notes: list[str] = field(default_factory=list)


def spf_records(lookup: Lookup, domain: str) -> list[str]:
    """The domain's SPF records (4.5: TXT strings starting `v=spf1` then a space or nothing)."""
    found = []
    for text in lookup.txt(domain):
        if text.lower() == "v=spf1" or text.lower().startswith("v=spf1 "):
            found.append(text)
    return found


class _Evaluation:
    def __init__(self, lookup: Lookup, address: str) -> None:
        self.lookup = lookup
        self.ip = ipaddress.ip_address(address)
        self.dns_terms = 0
        self.void = 0
        self.notes: list[str] = []

    def count(self) -> None:
        self.dns_terms += 1
        if self.dns_terms > MAX_DNS_TERMS:
            raise PermError(
                f"more than {MAX_DNS_TERMS} DNS look-ups (include, a, mx, ptr, exists, redirect "
                "across all includes; RFC 7208 4.6.4)"
            )

    def voided(self, answer: list[str]) -> list[str]:
        if not answer:
            self.void += 1
            if self.void > MAX_VOID_LOOKUPS:
                raise PermError(f"more than {MAX_VOID_LOOKUPS} look-ups found nothing")
        return answer

    def check_host(self, domain: str) -> tuple[str, str | None, str | None]:
        """(result, deciding term, the record's `all` qualifier) for `domain`."""
        records = spf_records(self.lookup, domain)
        if not records:
            return "none", None, None
        if len(records) > 1:
            raise PermError(f"{domain} has {len(records)} SPF records; it must have one")
        terms = records[0].split()[1:]
        redirect: str | None = None
        all_qualifier = next(
            (
                t[0] if t[0] in QUALIFIERS else "+"
                for t in terms
                if t.lower().lstrip("+-~?") == "all"
            ),
            None,
        )
        for term in terms:
            if "=" in term.split(":")[0]:  # a modifier
                name, _, value = term.partition("=")
                if name.lower() == "redirect":
                    if redirect is not None:
                        raise PermError(f"{domain}: more than one redirect")
                    redirect = value
                continue
            qualifier = term[0] if term[0] in QUALIFIERS else "+"
            mechanism = term[1:] if term[0] in QUALIFIERS else term
            if self.matches(mechanism, domain):
                return QUALIFIERS[qualifier], term, all_qualifier
        if redirect is not None:
            self.count()
            result, matched, _ = self.check_host(self._target(redirect))
            if result == "none":
                raise PermError(f"redirect={redirect} has no SPF record")
            return result, matched, all_qualifier
        return "neutral", None, all_qualifier

    def _target(self, spec: str) -> str:
        if "%" in spec:
            self.notes.append(f"macro in {spec!r} not evaluated")
            raise _Skip
        return spec.rstrip(".")

    def matches(self, mechanism: str, domain: str) -> bool:
        name, _, argument = mechanism.partition(":")
        kind = name.split("/")[0].lower()
        try:
            if kind == "all":
                return True
            if kind in ("ip4", "ip6"):
                network = ipaddress.ip_network(argument, strict=False)
                return self.ip.version == network.version and self.ip in network
            if kind == "include":
                self.count()
                result, _, _ = self.check_host(self._target(argument))
                if result == "none":
                    raise PermError(f"include:{argument} has no SPF record")
                return result == "pass"
            if kind in ("a", "mx"):
                self.count()
                target, cidr4, cidr6 = _dual_cidr(mechanism, domain)
                names = [self._target(target)]
                if kind == "mx":
                    names = self.voided(self.lookup.mx(names[0]))
                    if len(names) > MAX_MX_NAMES:
                        raise PermError(f"mx:{target} has more than {MAX_MX_NAMES} MX names")
                for host in names:
                    for text in self.voided(self.lookup.addresses(host)):
                        address = ipaddress.ip_address(text)
                        bits = cidr4 if address.version == 4 else cidr6
                        network = ipaddress.ip_network(f"{address}/{bits}", strict=False)
                        if self.ip.version == address.version and self.ip in network:
                            return True
                return False
            if kind == "exists":
                self.count()
                return bool(self.voided(self.lookup.addresses(self._target(argument))))
            if kind == "ptr":
                self.count()
                self.notes.append("ptr is not evaluated (RFC 7208 5.5: it SHOULD NOT be used)")
                return False
        except _Skip:
            return False
        except ValueError as error:
            raise PermError(f"{mechanism!r} is not valid ({error})") from None
        raise PermError(f"unknown mechanism {mechanism!r}")


class _Skip(Exception):
    """A term this evaluation cannot judge (a macro): it does not match."""


def _dual_cidr(mechanism: str, domain: str) -> tuple[str, int, int]:
    """`a`, `a:host`, `a/24`, `mx:host/24//64` -> (host, IPv4 prefix, IPv6 prefix) (5.6)."""
    rest = mechanism[len(mechanism.split(":")[0].split("/")[0]) :]
    host = domain
    if rest.startswith(":"):
        host, slash, cidrs = rest[1:].partition("/")
        rest = slash + cidrs
    v4, _, v6 = rest.partition("//")
    v4 = v4.removeprefix("/")
    return host or domain, int(v4) if v4 else 32, int(v6) if v6 else 128


def check_spf(lookup: Lookup, domain: str, address: str) -> SpfResult:
    """SPF's verdict on mail from `domain` sent by `address`."""
    evaluation = _Evaluation(lookup, address)
    records = spf_records(lookup, domain)
    record = records[0] if len(records) == 1 else None
    try:
        result, matched, all_qualifier = evaluation.check_host(domain)
    except PermError as error:
        return SpfResult(
            "permerror",
            record,
            dns_terms=evaluation.dns_terms,
            problem=str(error),
            notes=evaluation.notes,
        )
    return SpfResult(
        result, record, matched, all_qualifier, evaluation.dns_terms, notes=evaluation.notes
    )
