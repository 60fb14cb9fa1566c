"""The demo's sender check: `liefern check` against a local DNS stand-in (simulators/dns.py).

The demo runs offline, so its sender domain's records (SPF naming the local capture relay,
a DKIM key under selector `liefern`, DMARC p=quarantine) are served from loopback, and the
check shows in the summary what it shows for a real domain. The capture relay does not sign,
so the key is only published, as a relay's would be.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from pydantic import SecretStr

from connectors.sender_auth.check import check_sender
from connectors.smtp.message import address_of
from core.settings import Settings
from simulators.dns import DnsResponder, Records

DEMO_SELECTOR = "liefern"


def demo_records(domain: str, relay: str) -> Records:
    key = base64.b64encode(secrets.token_bytes(270)).decode()  # the size of an RSA-2048 key
    return {
        domain: {"TXT": [f"v=spf1 ip4:{relay} -all"]},
        f"{DEMO_SELECTOR}._domainkey.{domain}": {"TXT": [f"v=DKIM1; k=rsa; p={key}"]},
        f"_dmarc.{domain}": {"TXT": [f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{domain}"]},
    }


def demo_sender_check(settings: Settings) -> tuple[str, dict[str, Any]]:
    """The summary line and the full report of the check against the demo's DNS."""
    domain = address_of(settings.mail_from).rpartition("@")[2].lower()
    with DnsResponder(demo_records(domain, "127.0.0.1")) as dns:
        demo = settings.model_copy(
            update={
                "dns_resolver": dns.address,
                "dkim_selector": DEMO_SELECTOR,
                "smtp_url": SecretStr("smtp://127.0.0.1"),  # the demo's capture relay
            }
        )
        report = check_sender(demo)
    line = f"deliverability: {report.summary()} ({domain} in the demo's local DNS)"
    return line, report.as_dict()
