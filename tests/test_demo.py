"""The main job on embedded defaults: `liefern demo` runs the whole chain end to end."""

from __future__ import annotations

import email
import json
from email.policy import default

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings

runner = CliRunner()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_demo_imports_mails_and_confirms_on_every_portal(settings: Settings) -> None:
    result = runner.invoke(app, ["demo", "--orders", "40", "--json"])
    assert result.exit_code == 0, result.output
    demo = json.loads(result.stdout)
    assert demo["tracking_import"]["rejected"] == []
    totals = demo["deliver"]["totals"]
    assert totals["sent"] > 0 and totals["suppressed"] > 0 and "failed" not in totals
    confirmations = demo["confirmations"]
    assert set(confirmations) == {"amazon", "ebay", "kaufland", "hood", "rakuten", "otto"}
    for portal, counts in confirmations.items():
        assert counts.get("confirmed", 0) > 0, portal
        assert set(counts) <= {"confirmed", "skipped"}, (portal, counts)
    outbox = sorted(settings.home.glob("outbox/*.eml"))
    assert len(outbox) == totals["sent"]
    message = email.message_from_bytes(outbox[0].read_bytes(), policy=default)
    assert "/arrived/" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    retention = demo["retention"]  # one Amazon order dated back 40 days: past its 30
    assert retention["counts"] == {"due": 1, "anonymised": 1, "skipped": 0}
    old = runner.invoke(app, ["orders", "show", retention["dated_back"]])
    assert "buyer: anonymised on " in old.stdout, old.output
    said = "\n".join(demo["lines"])
    assert f"retention: order {retention['dated_back']} (amazon) dated back" in said
    assert "retention: 1 of 1 orders past their retention anonymised, 0 skipped" in said
    assert any(line.startswith("otto: ") for line in demo["lines"])

    tracking = demo["tracking"]  # every third parcel delivered in the simulators
    delivering = {s["source"] for s in tracking["sources"] if s["delivered"]}
    assert delivering == {"dhl_tracking", "amazon"} and tracking["errors"] == []
    line = next(line for line in demo["lines"] if line.startswith("tracking: "))
    assert f"{tracking['delivered']} of {tracking['parcels_asked']} parcels delivered" in line
    arrived = json.loads(
        runner.invoke(app, ["orders", "show", tracking["arrived"][0], "--json"]).stdout
    )
    assert arrived["order"]["status"] == "arrived", arrived

    order_no = demo["lines"][-1].split()[-1]
    shown = runner.invoke(app, ["orders", "show", order_no, "--json"])
    kinds = [e["kind"] for e in json.loads(shown.stdout)["timeline"]]
    assert kinds[:2] == ["imported", "parcel"] and "mail" in kinds


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the output, not the database
def test_the_demo_shows_its_summary_and_keeps_prefects_lines_in_a_log(settings: Settings) -> None:
    result = runner.invoke(app, ["demo", "--orders", "5"])
    assert result.exit_code == 0, result.output
    log = settings.home.resolve() / "logs" / "demo.log"
    lines = result.stdout.splitlines()
    assert lines[0].startswith("orders: 5 imported")
    assert f"Prefect's log of this demo: {log}" in lines
    assert (  # the sender check, against the demo's DNS stand-in
        "deliverability: SPF ok, DKIM ok (selector liefern), DMARC p=quarantine ok "
        "(beispiel-shop.de in the demo's local DNS)"
    ) in lines
    assert lines[-1].startswith("the protocol of one order: liefern orders show ")
    assert not [line for line in lines if " | INFO " in line or "Flow run" in line]
    assert result.stderr == ""  # no terminal: no progress display either
    kept = log.read_text(encoding="utf-8")
    assert "Finished in state Completed" in kept and "prefect" in kept


def test_the_demo_refuses_an_unknown_simulator_profile_as_bad_usage(settings: Settings) -> None:
    result = runner.invoke(app, ["demo", "--profile", "fast"])
    assert result.exit_code == 2
    assert "realistic" in result.output
