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
from typer.core import TyperGroup

from core.setup_error import SetupError
from flows.results import JsonShape

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")


class Exit(IntEnum):
    OK = 0
    ITEMS_FAILED = 1
    BAD_INPUT = 2


def _default(value: Any) -> Any:
    if isinstance(value, JsonShape):  # a flow's result, also inside the demo's answer
        return value.as_json()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def emit(data: object, *, as_json: bool, text: Callable[[], str]) -> None:
    """`data` as JSON (a flow's result as its `as_json()`), or `text()` for people."""
    if as_json:
        sys.stdout.write(json.dumps(data, default=_default, ensure_ascii=False, indent=2) + "\n")
    else:
        typer.echo(text())


def fail(
    message: str, *, as_json: bool, code: Exit = Exit.BAD_INPUT, hint: str | None = None
) -> NoReturn:
    """Stop with a message that says what to do next (or a `hint` that does)."""
    _show_error(message, hint, as_json=as_json)
    raise typer.Exit(int(code))


def fail_setup(error: SetupError, *, as_json: bool) -> NoReturn:
    fail(error.message, hint=error.hint, as_json=as_json)


def _show_error(message: str, hint: str | None, *, as_json: bool) -> None:
    if as_json:
        answer = {"error": message, **({"hint": hint} if hint else {})}
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
    else:
        typer.echo(f"error: {message}" + (f"; {hint}" if hint else ""), err=True)


class SetupErrorsAsOneLine(TyperGroup):
    """The `liefern` command group: a `SetupError` from any command (settings, database, a
    refusal to start) ends it with one line naming the fix, `--json` as `{"error", "hint"}`,
    and exit code 2, instead of a traceback."""

    def main(self, args: Any = None, *pos: Any, **options: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            return super().main(args, *pos, **options)
        except SetupError as error:
            _show_error(error.message, error.hint, as_json="--json" in argv)
            sys.exit(int(Exit.BAD_INPUT))


def rejected_lines(rejected: list[dict[str, Any]], limit: int = 50) -> list[str]:
    lines = [
        f"  row {r['row']}, {r['column']} = {r['value']!r}: {r['message']} [{r['code']}]"
        for r in rejected[:limit]
    ]
    if len(rejected) > limit:
        lines.append(f"  … and {len(rejected) - limit} more (use --json for all)")
    return lines
