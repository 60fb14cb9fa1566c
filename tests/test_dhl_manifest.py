"""Daily closing with DHL Parcel DE: mapping from fixture files, the client against the
simulator over real HTTP (Basic and OAuth), chunking, warnings, errors and retries.

Fixtures under tests/fixtures/dhl/ are shaped after DHL's OpenAPI description (2.1.13);
test_dhl_spec.py checks them against it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.credentials import MissingCredentials
from connectors.dhl_parcel.auth import DhlBasicAuth, DhlPasswordGrantAuth
from connectors.dhl_parcel.client import error_for
from connectors.dhl_parcel.connector import DhlParcelClient
from connectors.dhl_parcel.mapping import (
    SHIPPING_PATH,
    MalformedResponse,
    chunk_shipment_numbers,
    classify,
    manifest_query,
    manifest_request_body,
    parse_manifest_document,
    parse_manifest_response,
    parse_problem,
)
from connectors.errors import AuthError, RateLimited, Rejected, TransientError
from core.accounts import AccountOptions
from simulators.dhl_parcel import DhlParcelState, create_app, state_of
from simulators.server import serve_in_thread

FIXTURES = Path(__file__).parent / "fixtures" / "dhl"
API_KEY = "demo-api-key-123"
USER, PASSWORD = "user-valid", "SandboxPasswort2023!"
CLIENT_SECRET = "demo-client-secret-456"
TODAY = date(2026, 11, 26)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"0034043416{n:010d}" for n in range(start, start + count)]


# --- mapping (pure, from fixtures) --------------------------------------------------------------


def test_207_items_are_classified_closed_warning_and_error() -> None:
    result = parse_manifest_response(fixture("manifests_post_207.json"))
    assert [(i.shipment_no, i.status) for i in result.items] == [
        ("00340434161094042557", "closed"),
        ("00340434161094042564", "already_closed"),
        ("00340434161094042571", "error"),
        ("00340434161094042588", "closed"),
    ]


def test_already_closed_is_a_warning_not_an_error() -> None:
    result = parse_manifest_response(fixture("manifests_post_207.json"))
    assert [i.shipment_no for i in result.warnings] == ["00340434161094042564"]
    assert "00340434161094042564" not in [i.shipment_no for i in result.errors]


def test_error_item_keeps_dhl_title_and_detail() -> None:
    (error,) = parse_manifest_response(fixture("manifests_post_207.json")).errors
    assert (error.title, error.detail, error.status_code) == (
        "Not Found",
        "Die Sendungsnummer ist unbekannt.",
        404,
    )


def test_result_is_ok_only_without_errors() -> None:
    assert not parse_manifest_response(fixture("manifests_post_207.json")).ok
    assert parse_manifest_response(fixture("manifests_post_207_empty.json")).ok


def test_deprecated_status_code_alone_is_read() -> None:
    result = parse_manifest_response(fixture("manifests_post_207_deprecated_code.json"))
    assert [(i.status, i.status_code) for i in result.items] == [("closed", 200), ("error", 400)]


@pytest.mark.parametrize(
    ("sstatus", "expected"),
    [
        ({"title": "OK", "statusCode": 200}, "closed"),
        ({"title": "Warnung", "statusCode": 200}, "already_closed"),
        (
            {"title": "OK", "status": 200, "detail": "Sendung bereits manifestiert"},
            "already_closed",
        ),
        ({"title": "Error", "statusCode": 500}, "error"),
        ({}, "error"),
    ],
)
def test_classify_item_status(sstatus: dict[str, Any], expected: str) -> None:
    assert classify(sstatus) == expected


def test_item_without_sstatus_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        parse_manifest_response({"items": [{"shipmentNo": "1"}]})


def test_manifest_document_decodes_pdf_sheets_and_items() -> None:
    document = parse_manifest_document(fixture("manifests_get_200.json"), requested=TODAY)
    assert document.pdf.startswith(b"%PDF")
    assert document.manifest_date == date(2026, 11, 26)
    assert [(s.billing_number, s.sheet_no) for s in document.sheets] == [
        ("33333333330101", "261126001"),
        ("33333333330102", "261126002"),
    ]
    assert [i.shipment_no for i in document.items if i.sheet_no == "261126002"] == [
        "00340434161094042595"
    ]


def test_manifest_document_with_broken_base64_is_malformed() -> None:
    body = fixture("manifests_get_200.json")
    body["manifest"][0]["b64"] = "not base64 at all!"
    with pytest.raises(MalformedResponse):
        parse_manifest_document(body, requested=TODAY)


def test_problem_names_dhl_detail_and_validation_messages() -> None:
    assert parse_problem(fixture("error_400.json")).detail == "Das Datum liegt in der Zukunft."
    problem = parse_problem(fixture("error_400_validation.json"))
    assert "profile: must not be blank" in problem.detail
    assert parse_problem(fixture("error_401.json")).title == "Unauthorized"


def test_65_numbers_make_chunks_of_30_30_5_without_repeats() -> None:
    chunks = chunk_shipment_numbers([*numbers(65), " ", numbers(1)[0]])
    assert [len(c) for c in chunks] == [30, 30, 5]
    assert [number for chunk in chunks for number in chunk] == numbers(65)


def test_request_body_needs_profile_and_at_most_30_numbers() -> None:
    assert manifest_request_body(["1"], billing_number="33333333330101") == {
        "profile": "STANDARD_GRUPPENPROFIL",
        "shipmentNumbers": ["1"],
        "billingNumber": "33333333330101",
    }
    assert manifest_request_body(None) == {"profile": "STANDARD_GRUPPENPROFIL"}
    with pytest.raises(ValueError):
        manifest_request_body(numbers(31))
    with pytest.raises(ValueError):
        manifest_request_body(["1"], profile="")


def test_manifest_query_asks_for_inline_pdf() -> None:
    assert manifest_query(TODAY) == {"date": "2026-11-26", "includeDocs": "include"}


def test_http_errors_map_onto_the_error_tree() -> None:
    def answer(status: int, body: Any, **headers: str) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    rejected = error_for(answer(400, fixture("error_400.json")))
    assert isinstance(rejected, Rejected)
    assert rejected.message == "Das Datum liegt in der Zukunft."
    assert isinstance(error_for(answer(401, fixture("error_401.json"))), AuthError)
    assert isinstance(error_for(answer(403, {})), AuthError)
    throttled = error_for(answer(429, {}, **{"Retry-After": "7"}))
    assert isinstance(throttled, RateLimited) and throttled.retry_after == 7.0
    assert isinstance(error_for(answer(503, {})), TransientError)


# --- client against the simulator over real HTTP -----------------------------------------------


class Sim:
    def __init__(self, app: Any, url: str) -> None:
        self.app = app
        self.url = url
        self.base_url = url + SHIPPING_PATH

    @property
    def state(self) -> DhlParcelState:
        return state_of(self.app)


@pytest.fixture
def sim() -> Iterator[Sim]:
    app = create_app(
        API_KEY,
        {USER: PASSWORD},
        set(numbers(70)),
        client_secret=CLIENT_SECRET,
        today=lambda: TODAY,
    )
    with serve_in_thread(app) as url:
        yield Sim(app, url)


def basic() -> DhlBasicAuth:
    return DhlBasicAuth(API_KEY, USER, PASSWORD)


def oauth(**kwargs: Any) -> DhlPasswordGrantAuth:
    return DhlPasswordGrantAuth(API_KEY, CLIENT_SECRET, USER, PASSWORD, **kwargs)


def client(sim: Sim, auth: httpx.Auth, **kwargs: Any) -> DhlParcelClient:
    kwargs.setdefault("base_delay", 0.01)
    return DhlParcelClient(sim.base_url, auth=auth, **kwargs)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_basic_auth_closes_the_given_shipments(sim: Sim) -> None:
    async def go() -> Any:
        async with client(sim, basic()) as dhl:
            return await dhl.close_day(numbers(3))

    result = run(go())
    assert [i.status for i in result.items] == ["closed"] * 3
    assert set(sim.state.closed) == set(numbers(3))


def test_oauth_fetches_one_token_for_many_calls(sim: Sim) -> None:
    auth = oauth()

    async def go() -> Any:
        async with client(sim, auth) as dhl:
            first = await dhl.close_day(numbers(40))
            document = await dhl.fetch_manifest(TODAY)
            return first, document

    result, document = run(go())
    assert len(result.closed) == 40 and len(document.items) == 40
    assert sim.state.tokens_issued == 1 == auth.tokens_fetched


def test_oauth_token_is_renewed_shortly_before_it_expires(sim: Sim) -> None:
    now = [1000.0]
    auth = oauth(clock=lambda: now[0], margin_seconds=60)

    async def go() -> None:
        async with client(sim, auth) as dhl:
            await dhl.close_day(numbers(1))
            now[0] += sim.state.token_lifetime - 61  # still inside the margin-safe window
            await dhl.close_day(numbers(1, start=1))
            now[0] += 2  # now within 60 s of expiry
            await dhl.close_day(numbers(1, start=2))

    run(go())
    assert sim.state.tokens_issued == 2


def test_oauth_token_revoked_early_is_fetched_anew_once(sim: Sim) -> None:
    async def go() -> Any:
        async with client(sim, oauth()) as dhl:
            await dhl.close_day(numbers(1))
            sim.state.revoke_tokens()
            return await dhl.close_day(numbers(1, start=1))

    assert run(go()).ok
    assert sim.state.tokens_issued == 2


def test_oauth_with_wrong_password_is_an_auth_error(sim: Sim) -> None:
    async def go() -> None:
        auth = DhlPasswordGrantAuth(API_KEY, CLIENT_SECRET, USER, "wrong-password")
        async with client(sim, auth) as dhl:
            await dhl.close_day(numbers(1))

    with pytest.raises(AuthError) as caught:
        run(go())
    assert caught.value.code == "invalid_grant"
    assert "wrong-password" not in str(caught.value)


@pytest.mark.parametrize(
    "auth",
    [DhlBasicAuth(API_KEY, USER, "wrong-password"), DhlBasicAuth("wrong-key", USER, PASSWORD)],
    ids=["password", "api-key"],
)
def test_refused_credentials_are_an_auth_error_and_nothing_is_closed(
    sim: Sim, auth: DhlBasicAuth
) -> None:
    async def go() -> None:
        async with client(sim, auth) as dhl:
            await dhl.close_day(numbers(2))

    with pytest.raises(AuthError) as caught:
        run(go())
    assert caught.value.status == 401
    assert sim.state.closed == {}
    assert sim.state.refused == 1  # not retried: only the operator can fix this


def test_65_numbers_go_out_in_calls_of_30_30_and_5(sim: Sim) -> None:
    async def go() -> Any:
        async with client(sim, basic()) as dhl:
            return await dhl.close_day(numbers(65))

    result = run(go())
    assert [len(call or []) for call in sim.state.manifest_calls] == [30, 30, 5]
    assert len(result.closed) == 65


def test_no_numbers_closes_everything_open_with_all_true(sim: Sim) -> None:
    sim.state.close(numbers(10))  # closed earlier: not reported again

    async def go() -> Any:
        async with client(sim, basic()) as dhl:
            return await dhl.close_day(None)

    result = run(go())
    assert sim.state.manifest_calls == [None]
    assert sorted(i.shipment_no for i in result.closed) == numbers(60, start=10)


def test_empty_list_sends_nothing(sim: Sim) -> None:
    async def go() -> Any:
        async with client(sim, basic()) as dhl:
            return await dhl.close_day([])

    assert run(go()).items == []
    assert sim.state.manifest_calls == []


def test_already_closed_shipment_is_a_warning_not_an_error(sim: Sim) -> None:
    sim.state.close(numbers(1))

    async def go() -> Any:
        async with client(sim, basic()) as dhl:
            return await dhl.close_day(numbers(2))

    result = run(go())
    assert [i.status for i in result.items] == ["already_closed", "closed"]
    assert result.ok


def test_unknown_number_is_an_error_in_german_and_the_rest_is_closed(sim: Sim) -> None:
    async def go() -> Any:
        async with client(sim, basic()) as dhl:
            return await dhl.close_day([numbers(1)[0], "00340434999999999999"])

    result = run(go())
    assert [i.shipment_no for i in result.closed] == numbers(1)
    (error,) = result.errors
    assert error.shipment_no == "00340434999999999999"
    assert error.detail == "Die Sendungsnummer ist unbekannt."  # Accept-Language: de-DE


def test_a_refused_chunk_becomes_error_items_and_later_chunks_still_go(sim: Sim) -> None:
    sim.state.fail_next(1, status=400)

    async def go() -> Any:
        async with client(sim, basic()) as dhl:
            return await dhl.close_day(numbers(35))

    result = run(go())
    assert [i.shipment_no for i in result.errors] == numbers(30)
    assert result.errors[0].detail == "Simulated refusal of this request."
    assert [i.shipment_no for i in result.closed] == numbers(5, start=30)


def test_server_errors_are_retried(sim: Sim) -> None:
    sim.state.fail_next(2, status=500)

    async def go() -> Any:
        async with client(sim, basic(), attempts=3) as dhl:
            return await dhl.close_day(numbers(2))

    assert len(run(go()).closed) == 2
    assert sim.state.requests == 3


def test_throttling_that_outlasts_the_retries_is_rate_limited(sim: Sim) -> None:
    sim.state.fail_next(5, status=429, retry_after=0)

    async def go() -> None:
        async with client(sim, basic(), attempts=2) as dhl:
            await dhl.close_day(numbers(2))

    with pytest.raises(RateLimited) as caught:
        run(go())
    assert caught.value.retry_after == 0
    assert sim.state.requests == 2


def test_a_slow_answer_is_a_transient_error(sim: Sim) -> None:
    sim.state.slow_next(1, seconds=0.3)

    async def go() -> None:
        async with client(sim, basic(), attempts=1, timeout=0.05) as dhl:
            await dhl.fetch_manifest(TODAY)

    with pytest.raises(TransientError):
        run(go())


def test_fetch_manifest_returns_the_pdf_and_the_closed_shipments(sim: Sim) -> None:
    async def go() -> Any:
        async with client(sim, basic()) as dhl:
            await dhl.close_day(numbers(3))
            return await dhl.fetch_manifest(TODAY)

    document = run(go())
    assert document.pdf.startswith(b"%PDF")
    assert document.manifest_date == TODAY
    assert sorted(i.shipment_no for i in document.items) == numbers(3)
    assert [s.billing_number for s in document.sheets] == ["33333333330101"]


@pytest.mark.parametrize(
    ("day", "detail"),
    [
        (TODAY + timedelta(days=1), "Das Datum liegt in der Zukunft."),
        (TODAY - timedelta(days=365), "Das Datum liegt zu weit in der Vergangenheit."),
    ],
    ids=["future", "too-old"],
)
def test_manifest_of_a_future_or_too_old_day_is_rejected(sim: Sim, day: date, detail: str) -> None:
    async def go() -> None:
        async with client(sim, basic()) as dhl:
            await dhl.fetch_manifest(day)

    with pytest.raises(Rejected) as caught:
        run(go())
    assert caught.value.message == detail
    assert caught.value.status == 400


def test_secrets_stay_out_of_reprs_and_logs(sim: Sim, caplog: pytest.LogCaptureFixture) -> None:
    sim.state.fail_next(1, status=500)
    auth = oauth()
    caplog.set_level(logging.DEBUG)

    async def go() -> None:
        async with client(sim, auth) as dhl:
            await dhl.close_day(numbers(1))

    run(go())
    token = next(iter(sim.state.tokens))
    shown = repr(auth) + repr(basic()) + caplog.text
    assert "DHL call failed" in caplog.text  # the retry was logged
    for secret in (API_KEY, PASSWORD, CLIENT_SECRET, token):
        assert secret not in shown
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in shown


DHL_ENV = {
    "LIEFERN_DHL_API_KEY": API_KEY,
    "LIEFERN_DHL_USERNAME": USER,
    "LIEFERN_DHL_PASSWORD": PASSWORD,
}


def from_account(sim: Sim, monkeypatch: pytest.MonkeyPatch, **env: str) -> DhlParcelClient:
    for name, value in {**DHL_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    return DhlParcelClient.from_account(AccountOptions("dhl", "", base_url=sim.base_url))


def test_from_account_reads_the_credentials_and_closes_with_basic_auth(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def go() -> Any:
        async with from_account(sim, monkeypatch) as dhl:
            return await dhl.close_day(numbers(2))

    assert [i.status for i in run(go()).items] == ["closed"] * 2
    assert sim.state.tokens == {}  # Basic: no token was fetched


def test_from_account_with_a_client_secret_closes_with_an_oauth_token(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def go() -> Any:
        async with from_account(sim, monkeypatch, LIEFERN_DHL_CLIENT_SECRET=CLIENT_SECRET) as dhl:
            return await dhl.close_day(numbers(2))

    assert [i.status for i in run(go()).items] == ["closed"] * 2
    assert len(sim.state.tokens) == 1


def test_from_account_names_the_missing_variable_and_no_value(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIEFERN_DHL_PASSWORD", raising=False)
    for name, value in DHL_ENV.items():
        if name != "LIEFERN_DHL_PASSWORD":
            monkeypatch.setenv(name, value)
    with pytest.raises(MissingCredentials, match="LIEFERN_DHL_PASSWORD") as caught:
        DhlParcelClient.from_account(AccountOptions("dhl", "", base_url=sim.base_url))
    assert API_KEY not in str(caught.value)


def test_from_account_knows_production_and_sandbox_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in DHL_ENV.items():
        monkeypatch.setenv(name, value)
    sandbox = DhlParcelClient.from_account(AccountOptions("dhl", "", base_url="sandbox"))
    production = DhlParcelClient.from_account(AccountOptions("dhl", ""))
    assert sandbox.api.base_url == "https://api-sandbox.dhl.com/parcel/de/shipping/v2"
    assert production.api.base_url == "https://api-eu.dhl.com/parcel/de/shipping/v2"
    run(sandbox.aclose())
    run(production.aclose())
    with pytest.raises(ValueError, match="neither production, sandbox"):
        DhlParcelClient.from_account(AccountOptions("dhl", "", base_url="ftp://dhl.example"))
