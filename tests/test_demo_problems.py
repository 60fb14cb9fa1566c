"""`liefern demo` ends with one late parcel on the problems list, and `liefern problems`
shows the same parcel afterwards."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings

runner = CliRunner()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_the_demo_shows_one_delayed_parcel_on_the_problems_list(settings: Settings) -> None:
    result = runner.invoke(app, ["demo", "--orders", "8", "--json"])
    assert result.exit_code == 0, result.output
    demo = json.loads(result.stdout)
    problems = demo["problems"]
    assert problems["count"] == 1
    [parcel] = problems["parcels"]
    assert parcel["order_no"] == problems["dated_back"]
    assert parcel["problem"] == "no_first_scan"
    [line] = [x for x in demo["lines"] if x.startswith("problems: ")]
    assert line.startswith(f"problems: 1 parcel delayed ({parcel['order_no']} {parcel['carrier']} ")
    assert line.endswith(": no first scan 48 h after the mail); liefern problems")

    listed = json.loads(runner.invoke(app, ["problems", "--json"]).stdout)
    assert [p["order_no"] for p in listed["parcels"]] == [parcel["order_no"]]
