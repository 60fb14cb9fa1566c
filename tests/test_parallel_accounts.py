"""Several seller accounts of one portal are confirmed side by side: each account has its own
task, connector and rate limit (tasks/confirmations.py `confirm-<portal>-<account>`), so the
second account's calls do not wait for the first account's to end."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from sqlalchemy import update

from core.settings import Settings, reset_settings
from db.models import Confirmation, Order
from db.session import session_scope
from simulators import ebay
from simulators.stack import PortalStack
from tests.test_confirmation_gate import configure, shipped_orders

ORDER_PATH = re.compile(r"/order/([^/]+)/")
ANSWER_DELAY = 0.25  # each eBay call answered this late: an account's pass takes a while


def _task_runs(flow_run_id: object) -> dict[str, int]:
    async def read() -> dict[str, int]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))  # type: ignore[list-item]
            )
        return {r.name: r.run_count for r in runs}

    return asyncio.run(read())


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness", "smtp")
def test_two_ebay_accounts_are_confirmed_at_the_same_time(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.deliver import deliver

    orders = shipped_orders(db_url, "ebay", 6)
    first = orders[0].portal_account
    second = f"{first}-zwei"
    moved = {o.portal_order_id for o in orders[3:]}
    with session_scope(db_url) as session:  # half of the orders came in through a second account
        session.execute(
            update(Order)
            .where(Order.id.in_([o.id for o in orders[3:]]))
            .values(portal_account=second)
        )
    configure(portals, settings, monkeypatch)
    sim = ebay.simulator(portals.apps["ebay"])
    sim.slow_next(1000, ANSWER_DELAY)

    state = asyncio.run(deliver(carriers=["dhl"], return_state=True))

    assert state.is_completed(), state.message
    calls: dict[str, list[float]] = defaultdict(list)  # account -> times of its order calls
    for call in sim.calls:
        if found := ORDER_PATH.search(call.path):
            calls[second if found.group(1) in moved else first].append(call.at)
    assert set(calls) == {first, second}  # both accounts were told
    # side by side: each account's first call reached eBay while the other account still
    # waited for an answer (one after the other, the second would start after the answers)
    for one, other in ((first, second), (second, first)):
        assert min(calls[one]) < max(calls[other]) + ANSWER_DELAY
    with session_scope(db_url) as session:
        statuses = session.scalars(
            # every order of both accounts confirmed
            Confirmation.__table__.select().with_only_columns(Confirmation.status)
        ).all()
    assert statuses == ["confirmed"] * 6
    runs = _task_runs(state.state_details.flow_run_id)
    assert runs[f"confirm-ebay-{first}"] == 1 and runs[f"confirm-ebay-{second}"] == 1
    reset_settings()
