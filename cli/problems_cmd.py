"""`liefern problems [--json]`: the parcels on the watchlist (core/watchlist.py).

Exit code 0 when the list could be read, whether it is empty or not: the list is the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cli.output import JsonOption, emit
from cli.runtime import ensure_database
from core.clock import BUSINESS_TZ
from core.settings import get_settings
from core.watchlist import Problem, Thresholds, say
from db.queries.watchlist import count_problem_parcels, problem_parcels
from db.session import session_scope
from db.types import utcnow


def problems(as_json: bool = JsonOption) -> None:
    """Parcels that need a look: no first scan, no progress, exceptions, overdue."""
    settings = get_settings()
    url = ensure_database(settings)
    thresholds = settings.watch_thresholds()
    now = utcnow()
    with session_scope(url) as session:
        lines = problem_parcels(session, now=now, thresholds=thresholds)
        count = count_problem_parcels(session, now=now, thresholds=thresholds)
    summary = {
        "count": count,
        "thresholds": {
            "first_scan_hours": thresholds.first_scan_hours,
            "stalled_days": thresholds.stalled_days,
        },
        "parcels": [line.as_dict() for line in lines],
    }
    emit(summary, as_json=as_json, text=lambda: format_problems(summary, thresholds))


def format_problems(summary: dict[str, Any], thresholds: Thresholds) -> str:
    parcels = summary["parcels"]
    if not summary["count"]:
        return "no parcel on the problems list"
    count = summary["count"]
    lines = [f"{count} parcel{'' if count == 1 else 's'} on the problems list"]
    if len(parcels) < count:
        lines[0] += f" (the first {len(parcels)} shown)"
    for p in parcels:
        since = _local(p["since"]) if p["since"] else "-"
        said = say(Problem(p["problem"]), thresholds)
        status = f" · {p['status']}: {p['status_text']}" if p["status_text"] else ""
        lines.append(
            f"  {p['order_no']}  {p['portal']}  {p['carrier']} {p['tracking_number']}: "
            f"{said} (since {since}){status}"
        )
    return "\n".join(lines)


def _local(iso: str) -> str:
    return f"{datetime.fromisoformat(iso).astimezone(BUSINESS_TZ):%Y-%m-%d %H:%M}"
