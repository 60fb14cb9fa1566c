"""The command line: what operators and scripts see, and the exit codes of DESIGN."""

from __future__ import annotations

import email
import json
from email.policy import default
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings
from simulators.samples import generate_orders, orders_csv, tracking_csv
from tests.helpers import numbers

runner = CliRunner()


def write_orders(tmp_path: Path, count: int = 4) -> Path:
    path = tmp_path / "orders.csv"
    path.write_bytes(orders_csv(list(generate_orders(count))))
    return path


def test_db_upgrade_reports_the_revision(settings: Settings) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["revision"]


def test_orders_import_json_and_exit_codes(settings: Settings, tmp_path: Path) -> None:
    path = write_orders(tmp_path)
    result = runner.invoke(app, ["orders", "import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == 4
    bad = tmp_path / "bad.csv"
    bad.write_bytes(path.read_bytes().replace(b";1\n", b";x\n", 1))
    assert runner.invoke(app, ["orders", "import", str(bad)]).exit_code == 1
    assert runner.invoke(app, ["orders", "import", str(tmp_path / "none.csv")]).exit_code == 2


def test_tracking_add_validates_within_the_carrier(settings: Settings, tmp_path: Path) -> None:
    runner.invoke(app, ["orders", "import", str(write_orders(tmp_path))])
    number = numbers("dpd", 1)[0]
    ok = runner.invoke(app, ["tracking", "add", "AU100001", "DPD", number, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["imported"] == 1
    again = runner.invoke(app, ["tracking", "add", "AU100001", "dpd", number])
    assert again.exit_code == 0 and "already known" in again.stdout
    other = runner.invoke(app, ["tracking", "add", "AU100002", "dpd", number])
    assert other.exit_code == 1 and "another order" in other.stdout
    wrong = runner.invoke(app, ["tracking", "add", "AU100001", "ups", "1Z999AA10123456785"])
    assert wrong.exit_code == 2
    assert "check digit" in wrong.output
    assert runner.invoke(app, ["tracking", "add", "AU100001", "zeppelin", "1"]).exit_code == 2


def test_orders_show_prints_the_protocol(settings: Settings, tmp_path: Path) -> None:
    runner.invoke(app, ["orders", "import", str(write_orders(tmp_path))])
    number = numbers("gls", 1)[0]
    runner.invoke(app, ["tracking", "add", "AU100002", "gls", number])
    shown = runner.invoke(app, ["orders", "show", "AU100002", "--json"])
    assert shown.exit_code == 0, shown.output
    protocol = json.loads(shown.stdout)
    assert protocol["parcels"][0]["tracking_number"] == number
    assert [e["kind"] for e in protocol["timeline"]][:2] == ["imported", "parcel"]
    assert runner.invoke(app, ["orders", "show", "AU0"]).exit_code == 2


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_tracking_import_runs_the_flow_and_reports_rejected_rows(
    settings: Settings, tmp_path: Path
) -> None:
    samples = list(generate_orders(6))
    (tmp_path / "o.csv").write_bytes(orders_csv(samples))
    runner.invoke(app, ["orders", "import", str(tmp_path / "o.csv")])
    data = tracking_csv(samples) + b"AU100001;dhl;3.40434E+17;\n"
    (tmp_path / "t.csv").write_bytes(data)
    result = runner.invoke(app, ["tracking", "import", str(tmp_path / "t.csv"), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"import_id", "rows", "imported", "already_known", "rejected"}
    assert report["rows"] == data.count(b"\n") - 1
    assert report["imported"] == report["rows"] - 1
    assert report["rejected"] == [
        {
            "row": report["rows"] + 1,
            "column": "tracking_number",
            "value": "3.40434E+17",
            "code": "scientific_notation",
            "message": report["rejected"][0]["message"],
        }
    ]
    again = runner.invoke(app, ["tracking", "import", str(tmp_path / "t.csv"), "--json"])
    second = json.loads(again.stdout)
    assert (second["imported"], second["already_known"]) == (0, report["imported"])
    archived = list((settings.archive_dir / "imports").rglob("*t.csv"))
    assert len(archived) == 1 and archived[0].read_bytes() == data


@pytest.mark.usefixtures("prefect_harness")
def test_unreadable_tracking_file_exits_2(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_bytes(b"foo;bar\n1;2\n")
    result = runner.invoke(app, ["tracking", "import", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "cannot find" in result.output


def test_mails_preview_renders_one_mail_to_the_terminal_and_to_an_eml(
    settings: Settings, tmp_path: Path
) -> None:
    runner.invoke(app, ["orders", "import", str(write_orders(tmp_path))])
    runner.invoke(app, ["tracking", "add", "AU100001", "dhl", numbers("dhl", 1)[0]])
    shown = runner.invoke(app, ["mails", "preview", "AU100001"])
    assert shown.exit_code == 0, shown.output
    assert "/arrived/" in shown.stdout
    out = tmp_path / "mail.eml"
    saved = runner.invoke(app, ["mails", "preview", "AU100001", "--out", str(out), "--json"])
    result = json.loads(saved.stdout)
    message = email.message_from_bytes(out.read_bytes(), policy=default)
    assert (message["Subject"], message["Message-ID"]) == (result["subject"], result["message_id"])
    assert runner.invoke(app, ["mails", "preview", "AU100002"]).exit_code == 2  # no parcel
