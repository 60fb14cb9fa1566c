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
    profile: str = typer.Option(
        "zero",
        help="Portal simulators: zero (answer at once) or realistic (latency per call and each "
        "portal's documented rate limits, with its 429 beyond them).",
    ),
    latency_ms: float = typer.Option(150.0, help="Latency per call of the realistic profile."),
    as_json: bool = JsonOption,
) -> None:
    """Generate sample orders and tracking numbers, import them and run the chain.

    Shows its steps on a terminal and then a summary; Prefect's log lines are kept in
    LIEFERN_HOME/logs/demo.log."""
    from simulators.profiles import PROFILES, Profile

    if profile not in PROFILES:
        raise typer.BadParameter(f"choose one of {', '.join(PROFILES)}", param_hint="--profile")
    os.environ.setdefault("LIEFERN_DEMO", "true")
    reset_settings()
    from cli.demo_run import run_demo

    settings = get_settings()
    result = run_demo(
        settings,
        orders=orders,
        workdir=Path(tempfile.mkdtemp(prefix="liefern-")),
        profile=Profile.named(profile, latency_seconds=latency_ms / 1000),
    )
    emit(result, as_json=as_json, text=lambda: "\n".join(result["lines"]))
