"""A tiny authoritative DNS responder over UDP on loopback, for the tests and the demo.

It answers from a table of records with dnspython's message API, so `liefern check` does a real
DNS exchange (LIEFERN_DNS_RESOLVER=127.0.0.1:<port>) without the internet: a name with records
but none of the asked type gets an empty NOERROR answer, a name it does not know NXDOMAIN.

    records = {"beispiel-shop.de": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
               "_dmarc.beispiel-shop.de": {"TXT": ["v=DMARC1; p=quarantine"]}}
    with DnsResponder(records) as dns:
        dns.address  # "127.0.0.1:<port>"
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Self

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

Records = dict[str, dict[str, list[str]]]  # name -> type -> values (TXT unquoted)
TTL = 60
_TXT_CHUNK = 255  # a TXT record's strings are at most 255 bytes each (RFC 1035 3.3)


def _rdata_text(rdtype: str, value: str) -> str:
    if rdtype != "TXT":
        return value
    chunks = [value[i : i + _TXT_CHUNK] for i in range(0, len(value), _TXT_CHUNK)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


class DnsResponder:
    """Answers queries for `records` on 127.0.0.1:`port` (0: a free one) in a daemon thread."""

    def __init__(self, records: Records, host: str = "127.0.0.1", port: int = 0) -> None:
        self.records = {name.lower().rstrip("."): types for name, types in records.items()}
        self.queries = 0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, port))
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="dns-responder")

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> Self:
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(wire)
            except Exception:  # noqa: S112 - garbage on the port: no answer, as a server would
                continue
            self.queries += 1
            self._socket.sendto(self.answer(query).to_wire(), peer)

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            name = question.name.to_text().lower().rstrip(".")
            types = self.records.get(name)
            if types is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                continue
            rdtype = dns.rdatatype.to_text(question.rdtype)
            values = types.get(rdtype, [])
            if values:
                response.answer.append(
                    dns.rrset.from_text_list(
                        question.name,
                        TTL,
                        dns.rdataclass.IN,
                        rdtype,
                        [_rdata_text(rdtype, v) for v in values],
                    )
                )
        return response
