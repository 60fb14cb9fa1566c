"""What the CLI shows besides its answer: progress on a terminal only, plain flags in help."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from cli.main import app
from cli.progress import Steps
from core.settings import Settings
from simulators.samples import generate_orders, orders_csv

runner = CliRunner()


def test_help_shows_flags_as_plain_flags() -> None:
    result = runner.invoke(app, ["deliver", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    dry_run = next(line for line in result.stdout.splitlines() if "--dry-run" in line)
    assert dry_run.split() == ["--dry-run", "Render", "everything,", "send", "nothing."]
    assert "<bool>" not in result.stdout


def test_steps_on_a_terminal_show_each_step_with_its_count() -> None:
    screen = io.StringIO()
    steps = Steps(Console(file=screen, force_terminal=True, width=100))
    with steps.step("storing 3 orders", total=3) as advance:
        advance(3)
    with steps.step("reading orders.csv"):
        pass
    shown = screen.getvalue()
    assert "storing 3 orders" in shown and "3/3" in shown and "reading orders.csv" in shown


def test_a_long_import_without_a_terminal_prints_only_its_answer(
    settings: Settings, tmp_path: Path
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_bytes(orders_csv(list(generate_orders(30, seed=7, start=1))))
    result = runner.invoke(app, ["orders", "import", str(orders)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    [answer] = result.stdout.splitlines()
    assert answer.startswith("30 orders in ") and answer.endswith("0 rows rejected")
