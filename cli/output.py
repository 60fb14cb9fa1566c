"""How commands answer: text for people, `--json` for scripts, and the exit codes of DESIGN.

0 ok · 1 the work ran but items failed · 2 bad usage or unreadable input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from enum import IntEnum
from typing import Any, NoReturn

import typer

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")


class Exit(IntEnum):
    OK = 0
    ITEMS_FAILED = 1
    BAD_INPUT = 2


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def emit(data: Any, *, as_json: bool, text: Callable[[], str]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, default=_default, ensure_ascii=False, indent=2) + "\n")
    else:
        typer.echo(text())


def fail(
    message: str, *, as_json: bool, code: Exit = Exit.BAD_INPUT, hint: str | None = None
) -> NoReturn:
    """Stop with a message that says what to do next (in `hint`, or in the message)."""
    if as_json:
        answer = {"error": message, **({"hint": hint} if hint else {})}
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
    else:
        typer.echo(f"error: {message}" + (f"; {hint}" if hint else ""), err=True)
    raise typer.Exit(int(code))


def rejected_lines(rejected: list[dict[str, Any]], limit: int = 50) -> list[str]:
    lines = [
        f"  row {r['row']}, {r['column']} = {r['value']!r}: {r['message']} [{r['code']}]"
        for r in rejected[:limit]
    ]
    if len(rejected) > limit:
        lines.append(f"  … and {len(rejected) - limit} more (use --json for all)")
    return lines
