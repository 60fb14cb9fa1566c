"""`liefern demo`: the whole job on embedded defaults, against local stand-ins."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from cli.output import JsonOption, emit
from core.settings import get_settings, reset_settings


def demo(
    orders: int = typer.Option(40, help="How many sample orders to generate."),
    as_json: bool = JsonOption,
) -> None:
    """Generate sample orders and tracking numbers, import them and run the chain.

    Shows its steps on a terminal and then a summary; Prefect's log lines are kept in
    LIEFERN_HOME/logs/demo.log."""
    os.environ.setdefault("LIEFERN_DEMO", "true")
    reset_settings()
    from cli.demo_run import run_demo

    settings = get_settings()
    result = run_demo(settings, orders=orders, workdir=Path(tempfile.mkdtemp(prefix="liefern-")))
    emit(result, as_json=as_json, text=lambda: "\n".join(result["lines"]))
