"""A run that failed looks failed, and the run history names every order it touched.

Retries only where a second try can help (connectors/errors.py `retry_helps`); the deliver and
poll runs end Failed, "Completed with problems" or Completed by one rule (flows/outcome.py).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.credentials import MissingCredentials
from connectors.errors import AuthError, Rejected, TransientError, retry_helps
from core.settings import Settings, reset_settings
from simulators import ebay
from simulators.stack import PortalStack
from tasks.confirmations import PortalFailed
from tests.test_confirmation_gate import (
    configure,
    confirm,
    deliver_mails,
    shipped_orders,
)


def test_only_errors_a_second_try_can_heal_are_retried() -> None:
    assert retry_helps(TransientError("503 from the portal"))
    assert retry_helps(TimeoutError("read timed out"))
    assert not retry_helps(MissingCredentials("LIEFERN_EBAY_MAIN_CLIENT_ID is not set"))
    assert not retry_helps(AuthError("invalid_grant"))
    assert not retry_helps(Rejected("order unknown", code="404"))
    assert not retry_helps(KeyError("a bug"))
    assert not retry_helps(PortalFailed(["ebay account main: refused"], retryable=False))
    assert retry_helps(PortalFailed(["amazon account de: timeout"], retryable=True))


def _attempts_of(error: Exception) -> int:
    """How often a task with two retries and the retry rule runs when it fails once."""
    from prefect import flow, task

    from tasks.retry_rule import retry_if_it_helps

    calls: list[int] = []

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_if_it_helps)
    async def call_portal() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return "ok"

    @flow
    async def run() -> None:
        await call_portal(return_state=True)  # a failed task, not a failed test

    asyncio.run(run())
    return len(calls)


@pytest.mark.usefixtures("prefect_harness")
def test_a_task_is_tried_again_after_a_transient_error() -> None:
    assert _attempts_of(TransientError("502 Bad Gateway")) == 2


@pytest.mark.usefixtures("prefect_harness")
def test_a_task_is_not_tried_again_when_credentials_are_missing() -> None:
    assert _attempts_of(MissingCredentials("LIEFERN_EBAY_MAIN_CLIENT_ID is not set")) == 1


# --- the deliver flow's end state and protocol (real SMTP server, portal simulators) --------


@pytest.fixture
def stack(portals: PortalStack) -> PortalStack:
    """The portal simulators over HTTP (tests/test_confirmation_gate.py's fixture)."""
    return portals


def _deliver(monkeypatch: pytest.MonkeyPatch) -> Any:
    from flows.deliver import deliver

    reset_settings()
    return asyncio.run(deliver(carriers=["dhl"], return_state=True))


def _task_runs(state: Any) -> dict[str, int]:
    """Task run name → how often it ran, for the flow run of `state`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read() -> dict[str, int]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
                )
            )
        return {r.name: r.run_count for r in runs}

    return asyncio.run(read())


def _artifact_rows(state: Any, key: str) -> tuple[list[dict[str, str]], str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read() -> tuple[list[dict[str, str]], str]:
        flow_run = ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=flow_run)
            )
        [artifact] = [a for a in found if a.key == key]
        data = artifact.data
        return (json.loads(data) if isinstance(data, str) else data), artifact.description or ""

    return asyncio.run(read())


@pytest.mark.usefixtures("prefect_harness", "smtp")
def test_deliver_run_with_missing_portal_credentials_ends_failed_with_the_reason(
    db_url: str, settings: Settings, stack: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    [order] = shipped_orders(db_url, "ebay", 1)
    configure(stack, settings, monkeypatch)
    [missing] = [n for n in stack.environment() if n.startswith("LIEFERN_EBAY_")][:1]
    monkeypatch.delenv(missing)

    state = _deliver(monkeypatch)

    assert state.is_failed()
    assert missing in state.message
    # a second try would only repeat the refusal
    assert _task_runs(state)[f"confirm-ebay-{order.portal_account}"] == 1


@pytest.mark.usefixtures("prefect_harness", "smtp")
def test_deliver_run_with_a_rejected_order_completes_with_problems_and_names_the_orders(
    db_url: str, settings: Settings, stack: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    rejected, confirmed = shipped_orders(db_url, "ebay", 2)
    configure(stack, settings, monkeypatch)
    ebay.simulator(stack.apps["ebay"]).fail_next(1, 400, method="POST")

    state = _deliver(monkeypatch)

    assert state.is_completed() and state.name == "Completed with problems"
    assert "1 confirmations rejected" in state.message
    rows, description = _artifact_rows(state, "deliver-orders")
    table = {(r["order"], r["step"]): r["outcome"] for r in rows}
    assert {table[(o.order_no, "confirmation")] for o in (rejected, confirmed)} == {
        "rejected",
        "confirmed",
    }
    assert rows[0]["outcome"] == "rejected"  # problems first
    assert table[(rejected.order_no, "mail")] == "sent"
    assert description.startswith("2 orders: 1 problems")


@pytest.mark.usefixtures("prefect_harness")
def test_a_tracking_import_with_a_rejected_row_completes_with_problems(
    settings: Settings, tmp_path: Path
) -> None:
    from flows.tracking_import import tracking_import
    from simulators.samples import tracking_csv
    from tests.helpers import seed_orders

    path = tmp_path / "t.csv"
    path.write_bytes(tracking_csv(seed_orders(settings.db_url, 2)) + b"NO-SUCH-ORDER;dhl;x;\n")

    state = asyncio.run(
        tracking_import(file=str(path), source="cli", file_name="t.csv", return_state=True)  # type: ignore[call-overload]
    )

    assert state.is_completed() and state.name == "Completed with problems"
    assert "1 rows rejected" in state.message


def test_a_big_run_publishes_every_problem_first_and_a_capped_list_of_ok_orders() -> None:
    from db.queries.run_protocol import OrderOutcome
    from flows.protocol import MAX_ROWS, artifact_rows, log_lines

    fine = [OrderOutcome(f"AU{n}", "amazon", "confirmation", "confirmed", "") for n in range(1500)]
    bad = [OrderOutcome("EB7", "ebay", "confirmation", "rejected", "[32100] order unknown")]
    quiet = [OrderOutcome("AU1", "amazon", "mail", "suppressed", "Amazon sends its own mail")]

    rows, description = artifact_rows(fine + bad + quiet)

    assert len(rows) == MAX_ROWS
    assert rows[0] == {
        "order": "EB7",
        "portal": "ebay",
        "step": "confirmation",
        "outcome": "rejected",
        "reason": "[32100] order unknown",
    }
    assert description == (
        "1501 orders: 1 problems, 1501 OK rows; shown: 1 problems and the first 999 OK rows "
        "of 1501 (the run's log names every order)"
    )
    lines = log_lines(fine + bad + quiet, skip_mail={"sent"})
    assert "amazon mail suppressed: AU1" in lines  # a suppressed mail leaves a trace
    assert "ebay confirmation rejected: EB7" in lines
    assert sum(line.count("AU") for line in lines if "confirmed" in line) == 1500


@pytest.mark.usefixtures("prefect_harness", "smtp")
def test_a_poll_run_that_cannot_reach_amazon_ends_failed_and_names_the_missing_credential(
    db_url: str, settings: Settings, stack: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.confirm import poll_portals

    orders = shipped_orders(db_url, "amazon", 1)
    configure(stack, settings, monkeypatch)
    deliver_mails(db_url)
    confirm(db_url, settings, orders, "amazon")  # submitted: Amazon's answer comes later
    [missing] = [n for n in stack.environment() if n.startswith("LIEFERN_AMAZON_")][:1]
    monkeypatch.delenv(missing)

    state = asyncio.run(poll_portals(return_state=True))

    assert state.is_failed() and missing in state.message
    assert _task_runs(state)[f"poll-amazon-{orders[0].portal_account}"] == 1
