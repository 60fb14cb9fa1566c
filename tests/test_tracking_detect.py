"""Carrier exports without a carrier column are recognised by their header, without --format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.problems import UnreadableInput
from core.settings import Settings
from core.tracking_csv import PRESETS, read_tracking_file
from simulators.samples import generate_orders, orders_csv
from tests.helpers import numbers

EXPORTS = Path(__file__).parent / "fixtures" / "carrier_exports"
CARRIER_EXPORTS = sorted(name for name, preset in PRESETS.items() if preset.signatures)


def test_every_carrier_preset_has_a_header_fixture() -> None:
    assert CARRIER_EXPORTS == ["dhl", "dpd", "gls", "hermes", "ups"]
    assert sorted(p.stem for p in EXPORTS.glob("*.csv")) == CARRIER_EXPORTS


@pytest.mark.parametrize("name", CARRIER_EXPORTS)
def test_carrier_export_header_alone_names_its_preset(name: str) -> None:
    table = read_tracking_file((EXPORTS / f"{name}.csv").read_bytes())
    assert table.preset.name == name
    assert table.preset.carrier == name
    assert {"order_ref", "tracking_number"} <= set(table.headers)


@pytest.mark.parametrize("name", CARRIER_EXPORTS)
def test_each_carrier_export_fits_only_its_own_signature(name: str) -> None:
    header = (EXPORTS / f"{name}.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    names = header.split("," if name == "ups" else ";")
    fitting = [p for p in CARRIER_EXPORTS if PRESETS[p].fits(names)]
    assert fitting == [name]


def test_detected_export_reads_its_rows() -> None:
    data = (EXPORTS / "dpd.csv").read_bytes() + b"01234567890123;AU7;;Max;10115;Berlin;1,2;\n"
    table = read_tracking_file(data)
    assert table.frame["order_ref"].tolist() == ["AU7"]
    assert table.frame["tracking_number"].tolist() == ["01234567890123"]


def test_a_header_two_exports_fit_names_both_and_asks_for_format() -> None:
    with pytest.raises(UnreadableInput) as raised:
        read_tracking_file(b"TrackID;Barcode;Referenz\n1;2;AU1\n")
    message = str(raised.value)
    assert "gls" in message and "hermes" in message and "--format" in message


def test_a_file_with_its_own_carrier_column_keeps_the_own_format() -> None:
    data = b"Sendungsreferenz;Sendungsnummer;Versender\nAU1;123;dpd\n"
    table = read_tracking_file(data)
    assert table.preset.name == "liefern"
    assert table.frame["carrier"].tolist() == ["dpd"]


def test_a_named_format_is_used_as_named() -> None:
    table = read_tracking_file((EXPORTS / "gls.csv").read_bytes(), file_format="gls")
    assert table.preset.name == "gls"


def test_unknown_header_without_carrier_still_asks_for_carrier() -> None:
    with pytest.raises(UnreadableInput, match="--carrier"):
        read_tracking_file(b"Auftragsnummer;Sendungsnummer\nAU1;123\n")


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_cli_imports_a_dpd_export_without_format(settings: Settings, tmp_path: Path) -> None:
    samples = list(generate_orders(2))
    (tmp_path / "o.csv").write_bytes(orders_csv(samples))
    CliRunner().invoke(app, ["orders", "import", str(tmp_path / "o.csv")])
    line = f"{numbers('dpd', 1)[0]};{samples[0].order['order_no']};;Max;10115;Berlin;1,2;\n"
    (tmp_path / "dpd.csv").write_bytes((EXPORTS / "dpd.csv").read_bytes() + line.encode())
    result = CliRunner().invoke(app, ["tracking", "import", str(tmp_path / "dpd.csv"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == 1
