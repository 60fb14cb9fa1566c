"""`liefern mails bounces FILE…`: late bounces (delivery status notifications) applied to the
shipping mails they name (tasks/bounces.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.deliver_cmd import mails_app
from cli.output import JsonOption, emit, fail, fail_setup
from cli.runtime import ensure_database
from core.accounts import Accounts
from core.bounces import ADVICE
from core.dsn import Bounce, read_bounce_files
from core.settings import get_settings
from core.setup_error import SetupError
from tasks.bounces import apply_bounces

_SAID = {
    "bounced": "bounced",
    "already_applied": "already recorded",
    "not_final": "not final (the relay still tries)",
    "not_ours": "no shipping mail with this Message-ID",
}


@mails_app.command("bounces")
def bounces(
    files: list[Path] = typer.Argument(..., help=".eml files or mbox files with bounces."),
    as_json: bool = JsonOption,
) -> None:
    """Mark shipping mails bounced from delivery status notifications (RFC 3464)."""
    settings = get_settings()
    try:
        accounts = Accounts.load(settings.accounts_path)
        found = list(read_bounce_files(files))
    except SetupError as error:
        fail_setup(error, as_json=as_json)
    except OSError as error:
        fail(f"cannot read {error.filename}: {error.strerror}", as_json=as_json)
    notes = [item for item in found if isinstance(item, str)]
    report = apply_bounces(
        ensure_database(settings),
        [item for item in found if isinstance(item, Bounce)],
        accounts=accounts,
    )
    result = {"counts": dict(report.counts), "bounces": report.items, "skipped": notes}

    def text() -> str:
        lines = []
        for item in report.items:
            who = f"order {item['order_no']}" if item["order_no"] else item["message_id"]
            lines.append(f"{item['source']}: {who}: {_SAID[item['outcome']]}")
            if item["outcome"] in ("bounced", "already_applied"):
                kind = item["bounce_class"] or "unclassified"
                lines.append(f"  {kind}: {item['diagnostic']}")
                if item["bounce_class"]:
                    lines.append(f"  what to do: {ADVICE[item['bounce_class']]}")
        lines += notes
        counts = ", ".join(f"{v} {_SAID[k]}" for k, v in sorted(report.counts.items()))
        lines.append(f"{len(report.items)} bounce report(s): {counts or 'none'}")
        return "\n".join(lines)

    emit(result, as_json=as_json, text=text)
