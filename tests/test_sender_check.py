"""`liefern check`: SPF, DKIM and DMARC of the sender domain, looked up over real DNS (UDP) from
a local responder (simulators/dns.py), judged for the SMTP relay's address."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app
from connectors.sender_auth.check import check_sender
from connectors.sender_auth.lookup import DnsLookup
from connectors.sender_auth.spf import check_spf
from core.settings import Settings, reset_settings
from simulators.dns import DnsResponder, Records
from simulators.server import free_port

DOMAIN = "beispiel-shop.de"
KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAx" + "A" * 300  # only its presence counts


def good_records(**changes: dict[str, list[str]]) -> Records:
    records: Records = {
        DOMAIN: {
            "TXT": ["v=spf1 mx include:_spf.relay.example -all"],
            "MX": ["10 mx.beispiel-shop.de."],
        },
        "mx.beispiel-shop.de": {"A": ["192.0.2.10"]},
        "_spf.relay.example": {"TXT": ["v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 ~all"]},
        "smtp.relay.example": {"A": ["198.51.100.7"]},
        f"liefern._domainkey.{DOMAIN}": {"TXT": [f"v=DKIM1; k=rsa; p={KEY}"]},
        f"_dmarc.{DOMAIN}": {"TXT": ["v=DMARC1; p=quarantine; rua=mailto:dmarc@beispiel-shop.de"]},
    }  # fmt: skip
    records.update(changes)
    return records


@pytest.fixture
def dns_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LIEFERN_SMTP_URL", "smtp://smtp.relay.example:587")
    monkeypatch.setenv("LIEFERN_MAIL_FROM", f"Beispiel-Shop <versand@{DOMAIN}>")
    monkeypatch.setenv("LIEFERN_DKIM_SELECTOR", "liefern")
    monkeypatch.setenv("LIEFERN_DNS_TIMEOUT_SECONDS", "1")
    reset_settings()
    yield
    reset_settings()


def run_check(records: Records, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    with DnsResponder(records) as dns:
        monkeypatch.setenv("LIEFERN_DNS_RESOLVER", dns.address)
        return check_sender(Settings()).as_dict()


def levels(result: dict[str, object]) -> dict[str, str]:
    return {f["check"]: f["level"] for f in result["findings"]}  # type: ignore[attr-defined]


def test_a_domain_authenticated_for_its_relay_passes_all_three(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_check(good_records(), monkeypatch)
    assert levels(result) == {"spf": "ok", "dkim": "ok", "dmarc": "ok"}
    assert result["relay_addresses"] == ["198.51.100.7"]
    assert "ends -all" in result["findings"][0]["message"]  # type: ignore[index]
    assert result["summary"] == "SPF ok, DKIM ok (selector liefern), DMARC p=quarantine ok"


def test_a_relay_outside_the_spf_record_is_an_error_that_names_the_fix(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = good_records(**{"smtp.relay.example": {"A": ["203.0.113.5"]}})
    result = run_check(records, monkeypatch)
    spf = result["findings"][0]  # type: ignore[index]
    assert spf["level"] == "error" and "SPF fail" in spf["message"]
    assert "ip4:203.0.113.5" in spf["fix"]


def test_softfail_for_the_relay_is_a_warning(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = good_records(**{DOMAIN: {"TXT": ["v=spf1 ip4:192.0.2.1 ~all"]}})
    assert levels(run_check(records, monkeypatch))["spf"] == "warning"


def test_more_than_ten_dns_lookups_break_spf(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain: Records = {
        f"s{i}.relay.example": {"TXT": [f"v=spf1 include:s{i + 1}.relay.example"]}
        for i in range(11)
    }
    chain["s11.relay.example"] = {"TXT": ["v=spf1 ip4:198.51.100.7 -all"]}
    records = good_records(**{DOMAIN: {"TXT": ["v=spf1 include:s0.relay.example -all"]}}, **chain)
    spf = run_check(records, monkeypatch)["findings"][0]  # type: ignore[index]
    assert spf["level"] == "error" and "more than 10 DNS look-ups" in spf["message"]


def test_two_spf_records_are_a_permerror(dns_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    records = good_records(**{DOMAIN: {"TXT": ["v=spf1 -all", "v=spf1 ip4:198.51.100.7 -all"]}})
    spf = run_check(records, monkeypatch)["findings"][0]  # type: ignore[index]
    assert spf["level"] == "error" and "2 SPF records" in spf["message"]


def test_no_spf_and_no_dmarc_are_errors(dns_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    records = good_records(**{DOMAIN: {"MX": ["10 mx.beispiel-shop.de."]}})
    del records[f"_dmarc.{DOMAIN}"]
    result = run_check(records, monkeypatch)
    assert levels(result) == {"spf": "error", "dkim": "ok", "dmarc": "error"}
    assert "_dmarc.beispiel-shop.de" in result["findings"][2]["fix"]  # type: ignore[index]


def test_dmarc_of_the_organisational_domain_applies_to_a_subdomain(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIEFERN_MAIL_FROM", "versand@mail.beispiel-shop.de")
    records = good_records(**{
        "mail.beispiel-shop.de": {"TXT": ["v=spf1 a:smtp.relay.example -all"]},
        f"liefern._domainkey.mail.{DOMAIN}": {"TXT": [f"v=DKIM1; p={KEY}"]},
        f"_dmarc.{DOMAIN}": {"TXT": ["v=DMARC1; p=reject; aspf=s"]},
    })  # fmt: skip
    result = run_check(records, monkeypatch)
    assert levels(result) == {"spf": "ok", "dkim": "ok", "dmarc": "ok"}
    assert "SPF strict" in result["findings"][2]["message"]  # type: ignore[index]


def test_the_organisational_domain_comes_from_the_public_suffix_list(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # under co.uk the organisational domain has three labels (RFC 7489 3.2): the record of
    # shop.co.uk applies to mail.shop.co.uk, and co.uk itself is never asked
    monkeypatch.setenv("LIEFERN_MAIL_FROM", "versand@mail.shop.co.uk")
    records = good_records(**{
        "mail.shop.co.uk": {"TXT": ["v=spf1 a:smtp.relay.example -all"]},
        "liefern._domainkey.mail.shop.co.uk": {"TXT": [f"v=DKIM1; p={KEY}"]},
        "_dmarc.shop.co.uk": {"TXT": ["v=DMARC1; p=reject"]},
        "_dmarc.co.uk": {"TXT": ["v=DMARC1; p=none"]},
    })  # fmt: skip
    result = run_check(records, monkeypatch)
    assert levels(result) == {"spf": "ok", "dkim": "ok", "dmarc": "ok"}
    assert "p=reject" in result["findings"][2]["message"]  # type: ignore[index]


def test_without_a_selector_dkim_is_not_checked_and_says_what_to_set(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIEFERN_DKIM_SELECTOR")
    dkim = run_check(good_records(), monkeypatch)["findings"][1]  # type: ignore[index]
    assert dkim["level"] == "warning" and "LIEFERN_DKIM_SELECTOR" in dkim["fix"]


def test_a_revoked_dkim_key_is_an_error(dns_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    records = good_records(**{f"liefern._domainkey.{DOMAIN}": {"TXT": ["v=DKIM1; p="]}})
    assert levels(run_check(records, monkeypatch))["dkim"] == "error"


def test_a_strict_policy_without_passing_spf_or_dkim_is_an_error(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = good_records(**{DOMAIN: {"TXT": ["v=spf1 -all"]}})
    del records[f"liefern._domainkey.{DOMAIN}"]
    result = run_check(records, monkeypatch)
    assert levels(result) == {"spf": "error", "dkim": "error", "dmarc": "error"}
    assert "spam folders" in result["findings"][2]["message"]  # type: ignore[index]


def test_spf_mx_a_and_cidr_mechanisms_are_evaluated(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = good_records(**{
        "x.example": {"TXT": ["v=spf1 a:h.example/24 mx//64 -all"], "MX": ["5 m.example."]},
        "h.example": {"A": ["192.0.2.1"]},
        "m.example": {"AAAA": ["2001:db8:1::1"]},
    })  # fmt: skip
    with DnsResponder(records) as dns:
        lookup = DnsLookup(dns.address, timeout=1)
        assert check_spf(lookup, "x.example", "192.0.2.200").result == "pass"
        assert check_spf(lookup, "x.example", "2001:db8:1::abcd").result == "pass"
        assert check_spf(lookup, "x.example", "192.0.3.1").result == "fail"


def test_dns_not_reachable_is_a_quick_warning(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind(("127.0.0.1", 0))
    monkeypatch.setenv("LIEFERN_DNS_RESOLVER", f"127.0.0.1:{silent.getsockname()[1]}")
    started = time.monotonic()
    result = check_sender(Settings()).as_dict()
    silent.close()
    assert time.monotonic() - started < 3
    assert levels(result) == {"dns": "warning"}
    assert str(result["summary"]).startswith("skipped: no DNS")


def test_cli_check_answers_json_and_exits_1_on_errors(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    with DnsResponder(good_records()) as dns:
        monkeypatch.setenv("LIEFERN_DNS_RESOLVER", dns.address)
        reset_settings()
        ok = runner.invoke(app, ["check", "--json"])
        monkeypatch.setenv("LIEFERN_MAIL_FROM", "versand@unbekannt.example")
        reset_settings()
        bad = runner.invoke(app, ["check"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["level"] == "ok"
    assert bad.exit_code == 1
    assert "SPF missing" in bad.output and "fix:" in bad.output


@pytest.mark.slow
def test_serve_warns_about_the_sender_domain_and_starts_anyway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = good_records(**{"smtp.relay.example": {"A": ["203.0.113.5"]}})
    port = free_port()
    with DnsResponder(records) as dns:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LIEFERN_")},
            "LIEFERN_HOME": str(tmp_path / "home"),
            "LIEFERN_DEMO": "true",
            "LIEFERN_SMTP_URL": "smtp://smtp.relay.example:587",
            "LIEFERN_DKIM_SELECTOR": "liefern",
            "LIEFERN_DNS_RESOLVER": dns.address,
        }
        serve = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--no-prefect", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
            else:
                pytest.fail("liefern serve did not start")
        finally:
            serve.send_signal(signal.SIGTERM)
            _, stderr = serve.communicate(timeout=30)
    assert "deliverability: SPF fail, DKIM ok (selector liefern)" in stderr
    assert "fix: add ip4:203.0.113.5" in stderr


def test_an_unreadable_resolver_setting_is_bad_usage(
    dns_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIEFERN_DNS_RESOLVER", "dns.example:53")
    reset_settings()
    result = CliRunner().invoke(app, ["check", "--json"])
    assert result.exit_code == 2
    assert "LIEFERN_DNS_RESOLVER" in json.loads(result.output)["error"]
