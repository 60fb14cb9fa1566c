"""DNS look-ups for the sender check: TXT, addresses and MX, with a bounded wait.

The resolver is the system's, or LIEFERN_DNS_RESOLVER (`host:port`, `[v6]:port`) when set (the
tests and the demo point it at simulators/dns.py). Every query waits at most the timeout, so a
machine without DNS makes `liefern serve` warn and start, not hang. A name that does not exist
or has no records of the type answers `[]`; only an unreachable or failing resolver raises.
"""

from __future__ import annotations

import ipaddress

import dns.exception
import dns.resolver

DEFAULT_TIMEOUT_SECONDS = 2.0


class DnsUnreachable(Exception):
    """No answer from the resolver (timeout, refused, SERVFAIL): nothing can be said."""


def parse_resolver(value: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port`, or a bare address (port 53)."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, "53"
    try:
        ipaddress.ip_address(host)  # a resolver is named by its address: no look-up for it
        return host, int(port)
    except ValueError:
        raise ValueError(
            f"LIEFERN_DNS_RESOLVER {value!r}: write an IP address and port, e.g. 127.0.0.1:53 "
            "or [::1]:53"
        ) from None


class DnsLookup:
    def __init__(
        self, resolver: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.where = resolver or "the system resolver"
        try:
            self._resolver = dns.resolver.Resolver(configure=resolver is None)
        except dns.resolver.NoResolverConfiguration as error:
            raise DnsUnreachable(f"no DNS resolver configured ({error})") from error
        if resolver:
            host, port = parse_resolver(resolver)
            self._resolver.nameservers = [host]
            self._resolver.port = port
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        self.queries = 0

    def _answer(self, name: str, rdtype: str) -> list[str]:
        self.queries += 1
        try:
            answer = self._resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout as error:
            raise DnsUnreachable(f"{self.where} did not answer in time") from error
        except (dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as error:
            raise DnsUnreachable(f"{self.where}: {error}") from error
        except dns.exception.DNSException as error:
            raise DnsUnreachable(f"{self.where}: {error}") from error
        if rdtype == "TXT":
            return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
        if rdtype == "MX":
            return [r.exchange.to_text().rstrip(".") for r in answer]
        return [r.to_text() for r in answer]

    def txt(self, name: str) -> list[str]:
        return self._answer(name, "TXT")

    def mx(self, name: str) -> list[str]:
        return self._answer(name, "MX")

    def addresses(self, name: str) -> list[str]:
        """A and AAAA records of `name` (one look-up in SPF's count: RFC 7208 4.6.4)."""
        return self._answer(name, "A") + self._answer(name, "AAAA")
