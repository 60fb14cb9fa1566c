"""A flow run answers a typed result (flows/results.py), also after Prefect persisted it.

The deliver run of one eBay order against the real SMTP server and the portal simulators: the
caller gets a `DeliverResult`, the run's end state carries it, and a run whose result Prefect
persisted gives it back from its result storage as the same type, with the same values.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from core.settings import Settings, reset_settings
from flows.results import (
    AnonymisedOrder,
    ClosingCounts,
    ClosingFiles,
    ClosingResult,
    ClosingWritten,
    ConfirmationProblem,
    Confirmations,
    DelayMails,
    DeliverResult,
    DhlClosing,
    DhlShipment,
    MailPreview,
    MailProblem,
    Mismatch,
    OrderProblem,
    PollResult,
    ProtocolCounts,
    Reconciliation,
    ReconciliationCounts,
    RejectedRow,
    RetentionCounts,
    RetentionResult,
    RunResult,
    SkippedOrder,
    SourceSummary,
    TrackingImportResult,
    TrackResult,
    WatchedParcel,
    Watchlist,
)
from simulators.stack import PortalStack
from tests.test_confirmation_gate import configure, shipped_orders


def _deliver(**options: Any) -> Any:
    from flows.deliver import deliver

    reset_settings()
    return asyncio.run(deliver.with_options(**options)(carriers=["dhl"], return_state=True))


def _stored_state(state: Any) -> Any:
    """The run's final state as Prefect's API has it (its result in the result storage)."""
    from prefect.client.orchestration import get_client

    async def read() -> Any:
        async with get_client() as client:
            run = await client.read_flow_run(state.state_details.flow_run_id)
        return run.state

    return asyncio.run(read())


@pytest.mark.usefixtures("prefect_harness", "smtp")
def test_the_deliver_run_answers_a_deliver_result(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    [order] = shipped_orders(db_url, "ebay", 1)
    configure(portals, settings, monkeypatch)

    state = _deliver()
    result = state.result()

    assert state.is_completed()
    assert isinstance(result, DeliverResult)
    assert result.dry_run is False
    assert result.carriers == {"dhl": {"sent": 1}}
    assert result.totals == {"sent": 1}
    assert result.problems == ()
    assert result.preview is None
    assert isinstance(result.confirmations, Confirmations)
    assert result.confirmations.totals == {"confirmed": 1}
    assert result.confirmations.portals == {"ebay": {"confirmed": 1}}
    assert result.confirmations.errors == ()
    assert result.protocol == ProtocolCounts(orders=1, problems=0)
    assert order.order_no  # the one order the run mailed and confirmed


@pytest.mark.usefixtures("prefect_harness", "smtp")
def test_a_persisted_deliver_result_comes_back_typed_from_prefects_storage(
    db_url: str, settings: Settings, portals: PortalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped_orders(db_url, "ebay", 2)
    configure(portals, settings, monkeypatch)

    state = _deliver(persist_result=True)
    stored = _stored_state(state)
    result = stored.result()

    assert stored.is_completed()
    assert stored.data is not None and stored.data.storage_key  # read from storage, not memory
    assert isinstance(result, DeliverResult)
    assert result == state.result()
    assert result.confirmations is not None
    assert result.confirmations.portals == {"ebay": {"confirmed": 2}}


def test_the_json_of_a_result_leaves_out_what_the_run_did_not_have() -> None:
    result = DeliverResult(
        dry_run=False,
        carriers={"dhl": {"sent": 1, "waiting": 1}},
        totals={"sent": 1, "waiting": 1},
        problems=(
            MailProblem(
                "AU1",
                "waiting",
                "the mail server asks to wait",
                reply="451 try later",
                not_before="2026-12-04 15:20",
                carrier="dhl",
            ),
        ),
        confirmations=Confirmations(
            totals={"rejected": 1},
            problems=(ConfirmationProblem("AU2", "ebay", "rejected", "[404] order unknown"),),
            errors=(),
        ),
    )

    assert json.loads(json.dumps(result.as_json())) == {
        "dry_run": False,
        "carriers": {"dhl": {"sent": 1, "waiting": 1}},
        "totals": {"sent": 1, "waiting": 1},
        "problems": [
            {
                "order_no": "AU1",
                "status": "waiting",
                "reason": "the mail server asks to wait",
                "reply": "451 try later",
                "not_before": "2026-12-04 15:20",
                "carrier": "dhl",
            }
        ],
        "confirmations": {
            "totals": {"rejected": 1},
            "problems": [
                {
                    "order_no": "AU2",
                    "portal": "ebay",
                    "status": "rejected",
                    "reason": "[404] order unknown",
                }
            ],
            "errors": [],
        },
    }


def test_a_dry_run_preview_names_only_the_fields_of_its_action() -> None:
    send = MailPreview("AU1", "a@example.org", ("dhl 1234",), "send", subject="S", resend=False)
    suppress = MailPreview("AU2", "b@example.org", (), "suppress", reason="portal mails")

    assert list(send.as_json()) == ["order_no", "to", "parcels", "action", "subject", "resend"]
    assert list(suppress.as_json()) == ["order_no", "to", "parcels", "action", "reason"]


# --- every result through Prefect's serializers ---------------------------------------------

AT = datetime(2026, 12, 4, 14, 20, tzinfo=UTC)
CONFIRMATIONS = Confirmations(
    totals={"confirmed": 1, "rejected": 1},
    problems=(ConfirmationProblem("AU2", "ebay", "rejected", "[404] order unknown"),),
    errors=("kaufland: credentials refused",),
)
RECONCILED = ReconciliationCounts(3, 3, 2, 1, 1, 0, 1)
RESULTS: list[RunResult] = [
    DeliverResult(
        dry_run=True,
        carriers={"dhl": {"would_send": 1}},
        totals={"would_send": 1},
        problems=(),
        preview=(MailPreview("AU1", None, ("dhl 1234",), "send", subject="S", resend=True),),
    ),
    PollResult(
        polled=CONFIRMATIONS,
        resubmitted=Confirmations(totals={}, problems=(), errors=()),
        portals={"ebay": {"confirmed": 1, "rejected": 1}},
        problems=CONFIRMATIONS.problems,
        errors=CONFIRMATIONS.errors,
        protocol=ProtocolCounts(orders=2, problems=1),
    ),
    TrackingImportResult(
        import_id=1,
        status="done",
        file_name="versand.csv",
        sha256="0" * 64,
        rows=2,
        imported=1,
        already_known=0,
        rejected=(RejectedRow(2, "tracking_number", "3,4E+17", "scientific_notation", "…"),),
        error=None,
    ),
    ClosingResult(
        closing_id=1,
        carrier="dhl",
        carrier_name="DHL",
        day="2026-12-04",
        status="partial",
        counts=ClosingCounts(3, 2, 2, 1, 3, 1),
        files=ClosingFiles("/x/list.pdf", "/x/list.csv", None),
        written=ClosingWritten(shipping_list=True, carrier_pdf=False),
        dhl=DhlClosing(
            items=(DhlShipment("340434", "AU1", "closed", "", ""),),
            not_in_store=("340435",),
            manifest_sheets=None,
            manifest_shipments=None,
        ),
        reconciliation=Reconciliation(portals={"ebay": RECONCILED}, totals=RECONCILED),
        mismatches=(Mismatch("AU3", None, "ebay", "closed", "not closed"),),
        errors=("DHL's manifest not fetched",),
    ),
    RetentionResult(
        run_id="7d4c2f0e-0000-4000-8000-000000000001",
        dry_run=False,
        at=AT,
        counts=RetentionCounts(due=2, anonymised=1, skipped=1),
        rules={"amazon": 30, "ebay": None},
        anonymised=(
            AnonymisedOrder("AU1", "amazon", "de", 30, AT, "arrived", AT, ("orders.buyer_name",)),
        ),
        skipped=(SkippedOrder("AU2", "amazon", "de", 30, AT, "tracking", AT, "mail pending"),),
    ),
    TrackResult(
        sources=(SourceSummary("dhl_tracking", "main", 1, 2, 3, 1, {"delivered": 1}, ""),),
        calls=1,
        parcels_asked=2,
        delivered=1,
        arrived=("AU1",),
        problems=(OrderProblem("AU2", "lost", "Sendung verloren"),),
        errors=(),
        protocol=ProtocolCounts(orders=2, problems=1),
        watchlist=Watchlist(
            count=1,
            parcels=(
                WatchedParcel(
                    "AU3", "ebay", "main", "dhl", "3404", "stalled", AT.isoformat(), None, None
                ),
            ),
        ),
        delay_mails=DelayMails(counts={"sent": 1}, sent=("AU3",), problems=()),
    ),
]


@pytest.mark.parametrize("serializer", ["pickle", "json"])
@pytest.mark.parametrize("result", RESULTS, ids=lambda r: type(r).__name__)
def test_every_result_comes_back_as_itself_from_prefects_serializers(
    serializer: str, result: RunResult
) -> None:
    from prefect.serializers import Serializer

    through = Serializer(type=serializer)

    assert through.loads(through.dumps(result)) == result


def test_a_failed_runs_result_is_given_as_the_callers_type_or_not_at_all() -> None:
    from core.run_verdict import RunFailed

    failed = RunFailed("ebay: credentials refused", RESULTS[1])

    assert failed.result(PollResult) is RESULTS[1]
    with pytest.raises(TypeError, match="PollResult is no DeliverResult"):
        failed.result(DeliverResult)


def test_a_failed_closing_keeps_its_result_through_pickling() -> None:
    import pickle

    from flows.close_day import ClosingFailed

    closing = RESULTS[3]
    assert isinstance(closing, ClosingResult)

    failed = pickle.loads(pickle.dumps(ClosingFailed(closing)))  # noqa: S301

    assert isinstance(failed, ClosingFailed) and failed.result == closing
    assert str(failed) == "DHL's manifest not fetched"
