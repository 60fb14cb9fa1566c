"""A run's protocol in the Prefect UI: one table artifact with a row per order it touched, and
log lines naming the orders by outcome ("ebay confirmation confirmed: AU1, AU2, …").

Bounded for big runs: the artifact holds every problem first (up to MAX_ROWS), then OK orders
until MAX_ROWS, and its description says how many of each there were and how many are shown.
The logs name every order (ORDER_NUMBERS_PER_LOG_LINE per line); `liefern orders show` has the
rest of an order's story.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from prefect import get_run_logger
from prefect.artifacts import acreate_table_artifact

from db.queries.run_protocol import OrderOutcome
from flows.results import ProtocolCounts
from tasks.mails import ORDER_NUMBERS_PER_LOG_LINE

MAX_ROWS = 1000  # a table of this size stays readable in the UI and small for the API
MAX_REASON = 300


def artifact_rows(outcomes: Sequence[OrderOutcome]) -> tuple[list[dict[str, str]], str]:
    """The artifact's rows (problems first, capped) and its description with the counts."""
    problems = [o for o in outcomes if o.problem]
    fine = [o for o in outcomes if not o.problem]
    shown = (problems + fine)[:MAX_ROWS]
    rows = [
        {
            "order": o.order_no,
            "portal": o.portal,
            "step": o.step,
            "outcome": o.outcome,
            "reason": o.reason[:MAX_REASON],
        }
        for o in shown
    ]
    orders = len({o.order_no for o in outcomes})
    description = f"{orders} orders: {len(problems)} problems, {len(fine)} OK rows"
    if len(shown) < len(outcomes):
        shown_problems = min(len(problems), MAX_ROWS)
        description += (
            f"; shown: {shown_problems} problems and the first {len(shown) - shown_problems} "
            f"OK rows of {len(fine)} (the run's log names every order)"
        )
    return rows, description


def log_lines(outcomes: Sequence[OrderOutcome], *, skip_mail: set[str]) -> list[str]:
    """Batched lines of order numbers per (portal, step, outcome); mail outcomes in `skip_mail`
    are left out (the mail task has named them already)."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for o in outcomes:
        if o.step == "mail" and o.outcome in skip_mail:
            continue
        groups[(o.portal, o.step, o.outcome)].append(o.order_no)
    lines = []
    for (portal, step, outcome), order_nos in sorted(groups.items()):
        for start in range(0, len(order_nos), ORDER_NUMBERS_PER_LOG_LINE):
            chunk = order_nos[start : start + ORDER_NUMBERS_PER_LOG_LINE]
            lines.append(f"{portal} {step} {outcome}: {', '.join(chunk)}")
    return lines


async def publish_protocol(
    outcomes: Sequence[OrderOutcome], *, key: str, skip_mail: set[str] | None = None
) -> ProtocolCounts:
    """Log the orders by outcome and publish the per-order table; the counts, for the result."""
    logger = get_run_logger()
    for line in log_lines(outcomes, skip_mail=skip_mail or set()):
        logger.info(line)
    if not outcomes:
        return ProtocolCounts(orders=0, problems=0)
    rows, description = artifact_rows(outcomes)
    await acreate_table_artifact(key=key, table=rows, description=description)
    return ProtocolCounts(
        orders=len({o.order_no for o in outcomes}),
        problems=sum(o.problem for o in outcomes),
    )
