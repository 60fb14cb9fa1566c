"""The daily closing: DHL's manifest against the simulator over real HTTP, our shipping list for
every carrier, idempotent reruns, and the reconciliation of the day with the ledgers.

Most tests run the closing's plain steps (`run_closing` with PLAIN_STEPS); the CLI tests at
the end run the Prefect flow under the test server.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from connectors.dhl_parcel.mapping import SANDBOX, SHIPPING_PATH
from connectors.errors import AuthError
from core.accounts import AccountOptions
from core.carriers.numbers import normalise_tracking_number
from core.clock import business_today
from core.settings import Settings
from core.tracking_rows import ParcelRow
from db.models import Confirmation, DailyClosing, Parcel, ShippingMail
from db.queries.closing import ConfirmationFact, DayParcel, MailFact
from db.queries.orders import get_order
from db.session import session_scope
from db.types import utcnow
from flows.close_day import parse_day, run_closing
from flows.results import ClosingResult, ClosingWritten
from simulators.dhl_parcel import DhlParcelState, create_app, state_of
from simulators.server import serve_in_thread
from tasks.closing import DhlOptions, dhl_options, reconcile
from tasks.parcels import attach_parcels
from tests.helpers import numbers, seed_orders

API_KEY = "demo-api-key-123"
USER, PASSWORD = "user-valid", "SandboxPasswort2023!"
DAY = business_today() - timedelta(days=1)  # a past day: valid for the CLI at any hour
DHL_NUMBERS = [normalise_tracking_number("dhl", n) for n in numbers("dhl", 4)]
DPD_NUMBERS = numbers("dpd", 5)


# --- set-up -------------------------------------------------------------------------------------


@dataclass
class Sim:
    app: Any
    base_url: str
    env: pytest.MonkeyPatch

    @property
    def state(self) -> DhlParcelState:
        return state_of(self.app)

    def options(self, password: str = PASSWORD, **kwargs: Any) -> DhlOptions:
        """Options for this simulator; the credentials (this password) are in the environment,
        where the closing's client reads them."""
        for name, value in {**DHL_ENV, "LIEFERN_DHL_PASSWORD": password}.items():
            self.env.setenv(name, value)
        return DhlOptions(account=AccountOptions("dhl", "", base_url=self.base_url), **kwargs)


def serve_dhl(env: pytest.MonkeyPatch, known: set[str] | None = None) -> Iterator[Sim]:
    app = create_app(API_KEY, {USER: PASSWORD}, known, today=lambda: DAY)
    with serve_in_thread(app) as url:
        yield Sim(app, url + SHIPPING_PATH, env)


@pytest.fixture
def dhl(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sim]:
    """DHL that knows every number (as if all labels were made with this account)."""
    yield from serve_dhl(monkeypatch)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def seed(db_url: str, parcels: list[tuple[str, str, str, date]]) -> None:
    """Sample orders AU100001.. and these parcels (order number, carrier, number, ship date)."""
    seed_orders(db_url, 8)
    rows = [
        ParcelRow(i, order_no, carrier, normalise_tracking_number(carrier, number), day)
        for i, (order_no, carrier, number, day) in enumerate(parcels, start=1)
    ]
    with session_scope(db_url) as session:
        outcome = attach_parcels(session, rows=rows, source="cli")
    assert not outcome.problems


def seed_dhl_day(db_url: str) -> None:
    """Three DHL parcels today-being-closed, one of another day, one DPD parcel of the day."""
    seed(
        db_url,
        [
            ("AU100001", "dhl", DHL_NUMBERS[0], DAY),
            ("AU100002", "dhl", DHL_NUMBERS[1], DAY),
            ("AU100002", "dhl", DHL_NUMBERS[2], DAY),
            ("AU100003", "dhl", DHL_NUMBERS[3], DAY - timedelta(days=1)),
            ("AU100004", "dpd", DPD_NUMBERS[0], DAY),
        ],
    )


def close(db_url: str, home: Path, carrier: str, dhl: DhlOptions | None = None) -> ClosingResult:
    return asyncio.run(
        run_closing(db_url, carrier=carrier, day=DAY, home=home, shop_name="Test-Shop", dhl=dhl)
    )


def closed_numbers(db_url: str) -> set[str]:
    with session_scope(db_url) as session:
        statement = select(Parcel.tracking_number).where(Parcel.closed_at.is_not(None))
        return set(session.scalars(statement))


def csv_rows(path: str) -> list[dict[str, str]]:
    text = Path(path).read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def plant_mail(db_url: str, order_no: str, status: str, reason: str | None = None) -> None:
    with session_scope(db_url) as session:
        order = get_order(session, order_no=order_no)
        assert order is not None
        session.add(
            ShippingMail(
                order_id=order.id,
                kind="shipped",
                status=status,
                carrier="dpd",
                message_id=f"<{order_no}.shipped@test>",
                recipient=order.buyer_email,
                language="de",
                reason=reason,
                attempts=1,
                finished_at=utcnow(),
            )
        )


def plant_confirmation(
    db_url: str, order_no: str, status: str, code: str | None = None, text: str | None = None
) -> None:
    with session_scope(db_url) as session:
        order = get_order(session, order_no=order_no)
        assert order is not None
        for parcel in order.parcels:
            session.add(
                Confirmation(
                    order_id=order.id,
                    parcel_id=parcel.id,
                    portal=order.portal,
                    account=order.portal_account,
                    status=status,
                    attempts=1,
                    error_code=code,
                    error_text=text,
                )
            )


def all_told(db_url: str, *order_nos: str) -> None:
    for order_no in order_nos:
        plant_mail(db_url, order_no, "sent")
        plant_confirmation(db_url, order_no, "confirmed")


# --- DHL ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_dhl_closes_the_days_parcels_and_stores_dhls_manifest(
    db_url: str, home: Path, dhl: Sim
) -> None:
    seed_dhl_day(db_url)
    result = close(db_url, home, "dhl", dhl.options())

    day_numbers = set(DHL_NUMBERS[:3])
    assert [set(call or []) for call in dhl.state.manifest_calls] == [day_numbers]
    assert set(dhl.state.closed) == day_numbers
    assert closed_numbers(db_url) == day_numbers  # not the other day's, not DPD's
    assert result.status == "closed" and result.dhl and result.files.carrier_pdf
    assert [i.status for i in result.dhl.items] == ["closed"] * 3
    manifest = Path(result.files.carrier_pdf)
    assert manifest == (home / f"closings/dhl/{DAY}/dhl-manifest.pdf").resolve()
    assert manifest.read_bytes().startswith(b"%PDF")
    assert Path(result.files.shipping_list_pdf).read_bytes().startswith(b"%PDF")
    listed = csv_rows(result.files.shipping_list_csv)
    assert sorted(r["Sendungsnummer"] for r in listed) == sorted(day_numbers)
    assert {r["Auftragsnummer"] for r in listed} == {"AU100001", "AU100002"}
    with session_scope(db_url) as session:
        row = session.scalars(select(DailyClosing)).one()
        assert (row.carrier, row.day, row.status) == ("dhl", DAY, "closed")
        assert row.carrier_pdf_path == f"closings/dhl/{DAY}/dhl-manifest.pdf"
        assert row.id == result.closing_id


def test_shipments_dhl_closed_earlier_are_closed_here_without_error(
    db_url: str, home: Path, dhl: Sim
) -> None:
    seed_dhl_day(db_url)
    dhl.state.close([DHL_NUMBERS[0]])  # DHL's automatic end-of-day closing came first

    result = close(db_url, home, "dhl", dhl.options())

    assert result.dhl is not None
    statuses = {i.shipment_no: i.status for i in result.dhl.items}
    assert statuses[DHL_NUMBERS[0]] == "already_closed"
    assert closed_numbers(db_url) == set(DHL_NUMBERS[:3])
    assert not [m for m in result.mismatches if m.check == "closed"]
    assert result.errors == ()


def test_closing_twice_sends_nothing_twice_and_rewrites_no_file(
    db_url: str, home: Path, dhl: Sim
) -> None:
    seed_dhl_day(db_url)
    first = close(db_url, home, "dhl", dhl.options())
    paths = (first.files.shipping_list_pdf, first.files.shipping_list_csv, first.files.carrier_pdf)
    files = [Path(p) for p in paths if p]
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    requests = dhl.state.requests

    again = close(db_url, home, "dhl", dhl.options())

    assert again.status == "already_closed"
    assert len(dhl.state.manifest_calls) == 1  # no second POST /manifests
    assert dhl.state.requests == requests  # no GET either
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before
    assert again.written == ClosingWritten(shipping_list=False, carrier_pdf=False)
    assert again.closing_id == first.closing_id
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count(DailyClosing.id))) == 1
        assert session.scalars(select(DailyClosing.runs)).one() == 2


def test_a_parcel_added_later_that_day_is_closed_alone_and_the_list_rewritten(
    db_url: str, home: Path, dhl: Sim
) -> None:
    seed_dhl_day(db_url)
    close(db_url, home, "dhl", dhl.options())
    late = normalise_tracking_number("dhl", numbers("dhl", 1, seed=99)[0])
    with session_scope(db_url) as session:
        attach_parcels(session, rows=[ParcelRow(1, "AU100005", "dhl", late, DAY)], source="cli")

    again = close(db_url, home, "dhl", dhl.options())

    assert dhl.state.manifest_calls[1:] == [[late]]
    assert again.status == "closed"
    assert again.written == ClosingWritten(shipping_list=True, carrier_pdf=True)
    assert late in {r["Sendungsnummer"] for r in csv_rows(again.files.shipping_list_csv)}
    assert late in closed_numbers(db_url)


def test_a_dhl_500_is_retried_and_the_day_still_closes(db_url: str, home: Path, dhl: Sim) -> None:
    seed_dhl_day(db_url)
    dhl.state.fail_next(1, 500)

    result = close(db_url, home, "dhl", dhl.options())

    assert result.status == "closed"
    assert len(dhl.state.manifest_calls) == 1  # the failed try never reached the closing
    assert dhl.state.requests == 3  # POST (500), POST again, GET manifest
    assert closed_numbers(db_url) == set(DHL_NUMBERS[:3])


def test_refused_credentials_close_nothing_and_say_what_to_fix(
    db_url: str, home: Path, dhl: Sim
) -> None:
    seed_dhl_day(db_url)

    result = close(db_url, home, "dhl", dhl.options(password="wrong-password"))

    assert result.status == "failed"
    (error,) = result.errors
    assert "credentials refused" in error and "LIEFERN_DHL_PASSWORD" in error
    assert "wrong-password" not in json.dumps(result.as_json())
    assert dhl.state.closed == {} and dhl.state.refused == 1  # not retried
    assert closed_numbers(db_url) == set()
    assert result.files.carrier_pdf is None
    with session_scope(db_url) as session:
        row = session.scalars(select(DailyClosing)).one()
        assert row.status == "failed" and row.closed_at is None
        assert "credentials refused" in (row.error or "")


def test_after_fixing_the_credentials_a_rerun_closes_the_day(
    db_url: str, home: Path, dhl: Sim
) -> None:
    seed_dhl_day(db_url)
    close(db_url, home, "dhl", dhl.options(password="wrong-password"))

    result = close(db_url, home, "dhl", dhl.options())

    assert result.status == "closed" and result.errors == ()
    assert closed_numbers(db_url) == set(DHL_NUMBERS[:3])
    assert result.written == ClosingWritten(shipping_list=False, carrier_pdf=True)


def test_a_parcel_dhl_does_not_know_stays_open_and_is_listed(
    db_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_dhl_day(db_url)
    unknown = DHL_NUMBERS[1]
    for sim in serve_dhl(monkeypatch, known={DHL_NUMBERS[0], DHL_NUMBERS[2]}):
        result = close(db_url, home, "dhl", sim.options())

    assert result.status == "partial"
    assert closed_numbers(db_url) == {DHL_NUMBERS[0], DHL_NUMBERS[2]}
    (problem,) = [m for m in result.mismatches if m.check == "closed"]
    assert (problem.order_no, problem.tracking_number) == ("AU100002", unknown)
    assert problem.problem.startswith("parcel not known to DHL")


def test_close_all_option_closes_by_account_and_checks_the_manifest(
    db_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_dhl_day(db_url)
    elsewhere = "340434188888888883"  # a label made outside this store
    for sim in serve_dhl(monkeypatch, known={*DHL_NUMBERS[:2], elsewhere}):
        result = close(db_url, home, "dhl", sim.options(close_all=True))

    assert sim.state.manifest_calls == [None]  # ?all=true, no numbers
    assert closed_numbers(db_url) == set(DHL_NUMBERS[:2])
    assert result.dhl is not None and result.dhl.not_in_store == (elsewhere,)
    (problem,) = [m for m in result.mismatches if m.check == "closed"]
    assert problem.tracking_number == DHL_NUMBERS[2]
    assert "not known to DHL" in problem.problem


# --- other carriers -----------------------------------------------------------------------------


def test_dpd_gets_our_list_as_pdf_and_csv_and_its_parcels_closed(db_url: str, home: Path) -> None:
    seed(
        db_url,
        [
            ("AU100003", "dpd", DPD_NUMBERS[0], DAY),
            ("AU100005", "dpd", DPD_NUMBERS[1], DAY),
            ("AU100006", "dpd", DPD_NUMBERS[2], DAY - timedelta(days=1)),
            ("AU100007", "gls", numbers("gls", 1)[0], DAY),
        ],
    )

    result = close(db_url, home, "dpd")

    folder = home / f"closings/dpd/{DAY}"
    assert Path(result.files.shipping_list_pdf) == (folder / "shipping-list.pdf").resolve()
    assert (folder / "shipping-list.pdf").read_bytes().startswith(b"%PDF")
    assert result.files.carrier_pdf is None and result.dhl is None
    assert csv_rows(result.files.shipping_list_csv) == [
        {
            "Versanddienstleister": "DPD",
            "Sendungsnummer": DPD_NUMBERS[0],
            "Auftragsnummer": "AU100003",
            "Empfänger": "Ömer Dürr",
            "PLZ": "90402",
            "Ort": "Nürnberg",
            "Versanddatum": f"{DAY:%d.%m.%Y}",
        },
        {
            "Versanddienstleister": "DPD",
            "Sendungsnummer": DPD_NUMBERS[1],
            "Auftragsnummer": "AU100005",
            "Empfänger": "Andreas Krüger",
            "PLZ": "01067",
            "Ort": "Dresden",
            "Versanddatum": f"{DAY:%d.%m.%Y}",
        },
    ]
    assert closed_numbers(db_url) == set(DPD_NUMBERS[:2])
    assert result.counts.newly_closed == 2


def test_dpd_closing_twice_changes_nothing(db_url: str, home: Path) -> None:
    seed(db_url, [("AU100003", "dpd", DPD_NUMBERS[0], DAY)])
    first = close(db_url, home, "dpd")
    pdf = Path(first.files.shipping_list_pdf)
    before = (pdf.read_bytes(), pdf.stat().st_mtime_ns)

    again = close(db_url, home, "dpd")

    assert (again.status, again.counts.newly_closed) == ("already_closed", 0)
    assert (pdf.read_bytes(), pdf.stat().st_mtime_ns) == before


# --- reconciliation ---------------------------------------------------------------------------


def test_reconciliation_lists_every_planted_mismatch(db_url: str, home: Path) -> None:
    seed(
        db_url,
        [
            ("AU100001", "dpd", DPD_NUMBERS[0], DAY),  # amazon: mail suppressed, rejected
            ("AU100002", "dpd", DPD_NUMBERS[1], DAY),  # ebay: all done
            ("AU100003", "dpd", DPD_NUMBERS[2], DAY),  # ebay: never mailed, never confirmed
            ("AU100004", "dpd", DPD_NUMBERS[3], DAY),  # ebay: confirmation pending
            ("AU100005", "dpd", DPD_NUMBERS[4], DAY),  # kaufland: mail failed
        ],
    )
    plant_mail(db_url, "AU100001", "suppressed", "Amazon sends the buyer its own notification")
    plant_confirmation(db_url, "AU100001", "rejected", "13013", "Carrier name not recognised")
    all_told(db_url, "AU100002")
    plant_mail(db_url, "AU100004", "sent")
    plant_confirmation(db_url, "AU100004", "pending")
    plant_mail(db_url, "AU100005", "failed", "550 5.1.1 mailbox unavailable")
    plant_confirmation(db_url, "AU100005", "confirmed")

    result = close(db_url, home, "dpd")

    assert [(m.order_no, m.check, m.problem) for m in result.mismatches] == [
        (
            "AU100001",
            "confirmation",
            "confirmation rejected by amazon: [13013] Carrier name not recognised",
        ),
        ("AU100003", "mail", "imported but never mailed"),
        ("AU100003", "confirmation", "never confirmed to ebay"),
        ("AU100004", "confirmation", "confirmation still pending (ebay)"),
        ("AU100005", "mail", "mail failed: 550 5.1.1 mailbox unavailable"),
    ]
    ebay = result.reconciliation.portals["ebay"]
    assert (ebay.imported, ebay.closed, ebay.mailed, ebay.confirmed) == (3, 3, 2, 1)
    assert ebay.mismatches == 2
    assert result.reconciliation.portals["amazon"].mail_suppressed == 1


def day_parcel(parcel_id: int, portal: str = "ebay", **kwargs: Any) -> DayParcel:
    values: dict[str, Any] = {
        "parcel_id": parcel_id,
        "order_id": parcel_id,
        "order_no": f"AU{parcel_id}",
        "portal": portal,
        "carrier": "dpd",
        "tracking_number": f"0{parcel_id:013d}",
        "ship_date": DAY,
        "created_at": utcnow() - timedelta(hours=2),
        "closed_at": utcnow(),
        "recipient_name": "Lea Wagner",
        "postal_code": "90402",
        "city": "Nürnberg",
    }
    return DayParcel(**{**values, **kwargs})


def mail(order_id: int, status: str, **kwargs: Any) -> MailFact:
    values = {"reason": None, "attempts": 1, "finished_at": utcnow() - timedelta(hours=1)}
    return MailFact(order_id=order_id, status=status, **{**values, **kwargs})


def told(order_id: int, status: str, portal: str = "ebay") -> ConfirmationFact:
    return ConfirmationFact(order_id, order_id, portal, status, None, None)


def test_policy_is_no_mismatch_suppressed_mail_skipped_confirmation_own_shop() -> None:
    result = reconcile(
        [day_parcel(1, "amazon"), day_parcel(2, "rakuten"), day_parcel(3, "shop")],
        mails={1: mail(1, "suppressed"), 2: mail(2, "sent"), 3: mail(3, "sent")},
        confirmations=[told(1, "confirmed", "amazon"), told(2, "skipped", "rakuten")],
        carrier_problems={},
    )
    assert result.mismatches == []
    assert result.totals["not_to_confirm"] == 2


def test_mail_outcomes_and_submitted_confirmation_are_mismatches() -> None:
    result = reconcile(
        [day_parcel(1), day_parcel(2), day_parcel(3, created_at=utcnow())],
        mails={1: mail(1, "pending"), 2: mail(2, "pending", attempts=0), 3: mail(3, "sent")},
        confirmations=[told(1, "submitted"), told(2, "failed"), told(3, "confirmed")],
        carrier_problems={},
    )
    assert [m.problem for m in result.mismatches] == [
        "mail outcome unknown; the next deliver run sends it again",
        "confirmation still pending: submitted, ebay's result not in yet",
        "shipping mail not sent yet",
        "confirmation to ebay failed: no reason given",
        "parcel added after the shipping mail went out: the buyer does not know it",
    ]


def test_confirmation_held_for_a_failed_mail_is_named_as_held() -> None:
    held = ConfirmationFact(1, 1, "ebay", "held", "mail_failed", "shipping mail failed (550 x)")
    result = reconcile(
        [day_parcel(1)],
        mails={1: mail(1, "failed", reason="550 x")},
        confirmations=[held],
        carrier_problems={},
    )
    assert [m.problem for m in result.mismatches] == [
        "mail failed: 550 x",
        "confirmation to ebay held for the shipping mail: [mail_failed] shipping mail failed "
        "(550 x)",
    ]


def test_a_mail_waiting_for_the_mail_server_is_named_so_on_the_closing() -> None:
    reason = "waiting for the mail server: 535 5.7.8 Authentication credentials invalid"
    result = reconcile(
        [day_parcel(1)],
        mails={1: mail(1, "pending", reason=reason, finished_at=None)},
        confirmations=[told(1, "confirmed")],
        carrier_problems={},
    )
    assert [m.problem for m in result.mismatches] == [
        f"shipping mail {reason}; a deliver run sends it once the server takes it"
    ]


def test_open_parcel_gets_the_carriers_reason_or_the_default() -> None:
    result = reconcile(
        [day_parcel(1, closed_at=None), day_parcel(2, closed_at=None), day_parcel(3)],
        mails={i: mail(i, "sent") for i in (1, 2, 3)},
        confirmations=[told(i, "confirmed") for i in (1, 2, 3)],
        carrier_problems={1: "parcel not known to DHL", 3: "closed at DHL but DHL reported x"},
        open_reason="not closed: the closing with DHL did not go through (see errors)",
    )
    assert [(m.order_no, m.problem) for m in result.mismatches] == [
        ("AU1", "parcel not known to DHL"),
        ("AU2", "not closed: the closing with DHL did not go through (see errors)"),
        ("AU3", "closed at DHL but DHL reported x"),
    ]
    assert result.totals["closed"] == 1


# --- configuration ------------------------------------------------------------------------------


DHL_ENV = {
    "LIEFERN_DHL_API_KEY": API_KEY,
    "LIEFERN_DHL_USERNAME": USER,
    "LIEFERN_DHL_PASSWORD": PASSWORD,
}


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in (*DHL_ENV, "LIEFERN_DHL_CLIENT_SECRET", "LIEFERN_DHL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_dhl_options_from_env_and_the_accounts_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[carriers.dhl]\nbase_url = "sandbox"\nclose_all = true\n'
        'billing_number = "33333333330102"\n',
        encoding="utf-8",
    )
    set_env(monkeypatch, DHL_ENV)
    options = dhl_options(accounts)
    assert (options.account.base_url, options.close_all, options.billing_number) == (
        SANDBOX,
        True,
        "33333333330102",
    )
    set_env(monkeypatch, {**DHL_ENV, "LIEFERN_DHL_BASE_URL": "http://127.0.0.1:9/x/"})
    assert dhl_options(accounts).account.base_url == "http://127.0.0.1:9/x"
    assert PASSWORD not in repr(options)


def test_dhl_options_refuse_missing_credentials_and_odd_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_env(monkeypatch, {k: v for k, v in DHL_ENV.items() if "PASS" not in k})
    with pytest.raises(AuthError, match="LIEFERN_DHL_PASSWORD"):
        dhl_options(tmp_path / "none.toml")
    set_env(monkeypatch, {**DHL_ENV, "LIEFERN_DHL_BASE_URL": "ftp://dhl.example"})
    with pytest.raises(ValueError, match="neither production, sandbox"):
        dhl_options(tmp_path / "none.toml")


def test_a_day_is_a_past_or_present_iso_date() -> None:
    today = date(2026, 11, 26)
    assert parse_day(None, today=today) == today
    assert parse_day("2026-11-20", today=today) == date(2026, 11, 20)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_day("26.11.2026", today=today)
    with pytest.raises(ValueError, match="future"):
        parse_day("2026-11-27", today=today)


# --- command line (the flow under Prefect) ------------------------------------------------------

runner = CliRunner()


def cli(*args: str) -> Any:
    import typer

    from cli.close_day_cmd import close_day

    app = typer.Typer()
    app.command()(close_day)
    return runner.invoke(app, list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--carrier", "zeppelin"], "zeppelin"),
        (["--carrier", "dpd", "--date", "yesterday"], "YYYY-MM-DD"),
        (["--carrier", "dpd", "--date", "2999-01-01"], "future"),
        (["--carrier", "dhl"], "LIEFERN_DHL_API_KEY"),
    ],
    ids=["carrier", "date", "future", "dhl-credentials"],
)
def test_bad_usage_exits_2_before_anything_runs(
    settings: Settings, args: list[str], message: str
) -> None:
    result = cli(*args, "--json")
    assert result.exit_code == 2, result.output
    assert message in json.loads(result.stdout)["error"]
    assert not (settings.home / "closings").exists()


async def reconciliation_artifact() -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        (artifact,) = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["close-day-reconciliation"])
            ),
            limit=1,
            sort="CREATED_DESC",
        )
    return artifact


@pytest.mark.usefixtures("prefect_harness")
def test_cli_closes_dhl_in_a_flow_run_with_the_reconciliation_artifact(
    settings: Settings, dhl: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**DHL_ENV, "LIEFERN_DHL_BASE_URL": dhl.base_url}.items():
        monkeypatch.setenv(name, value)
    seed_dhl_day(settings.db_url)
    all_told(settings.db_url, "AU100002")  # AU100001 was never mailed nor confirmed

    result = cli("--carrier", "DHL", "--date", DAY.isoformat(), "--json")

    assert result.exit_code == 1, result.output  # the work ran, a mismatch was found
    report = json.loads(result.stdout)
    assert report["status"] == "closed" and report["counts"]["closed"] == 3
    assert Path(report["files"]["carrier_pdf"]).read_bytes().startswith(b"%PDF")
    assert {m["order_no"] for m in report["mismatches"]} == {"AU100001"}
    artifact = asyncio.run(reconciliation_artifact())
    table = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert set(table["order_no"]) == {"AU100001"}
    assert "imported but never mailed" in table["problem"]


@pytest.mark.usefixtures("prefect_harness")
def test_cli_with_refused_credentials_exits_1_and_closes_nothing(
    settings: Settings, dhl: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**DHL_ENV, "LIEFERN_DHL_PASSWORD": "wrong-password"}
    for name, value in {**env, "LIEFERN_DHL_BASE_URL": dhl.base_url}.items():
        monkeypatch.setenv(name, value)
    seed_dhl_day(settings.db_url)

    result = cli("--carrier", "dhl", "--date", DAY.isoformat())

    assert result.exit_code == 1
    assert "credentials refused" in result.stdout
    assert "wrong-password" not in result.output
    assert closed_numbers(settings.db_url) == set() and dhl.state.closed == {}


# --- parcels without tracking number ------------------------------------------------------------


def add_untracked(db_url: str, order_no: str, carrier: str) -> None:
    with session_scope(db_url) as session:
        row = ParcelRow(1, order_no, carrier, None, DAY)
        assert attach_parcels(session, rows=[row], source="cli").imported == 1


def untracked_closed(db_url: str) -> list[bool]:
    with session_scope(db_url) as session:
        statement = select(Parcel.closed_at).where(Parcel.tracking_number.is_(None))
        return [at is not None for at in session.scalars(statement)]


def test_dhl_gets_only_numbers_and_an_untracked_parcel_is_closed_with_our_list(
    db_url: str, home: Path, dhl: Sim
) -> None:
    seed_dhl_day(db_url)
    add_untracked(db_url, "AU100005", "dhl")

    result = close(db_url, home, "dhl", dhl.options())

    assert [set(call or []) for call in dhl.state.manifest_calls] == [set(DHL_NUMBERS[:3])]
    assert (result.status, result.errors) == ("closed", ())
    counts = result.counts
    assert (counts.sent_to_carrier, counts.newly_closed, counts.not_closed) == (3, 4, 0)
    assert untracked_closed(db_url) == [True]
    listed = csv_rows(result.files.shipping_list_csv)
    assert len(listed) == 4
    assert [r["Sendungsnummer"] for r in listed if r["Auftragsnummer"] == "AU100005"] == [
        "ohne Sendungsnummer"
    ]
    assert not [m for m in result.mismatches if m.check == "closed"]


def test_a_dhl_day_of_untracked_parcels_only_asks_dhl_nothing(
    db_url: str, home: Path, dhl: Sim
) -> None:
    seed_orders(db_url, 2)
    add_untracked(db_url, "AU100001", "dhl")

    result = close(db_url, home, "dhl", dhl.options())
    again = close(db_url, home, "dhl", dhl.options())

    assert dhl.state.manifest_calls == []
    assert (result.status, result.errors, result.files.carrier_pdf) == (
        "closed",
        (),
        None,
    )
    assert again.status == "already_closed"
    assert untracked_closed(db_url) == [True]


def test_an_untracked_parcel_is_on_the_dpd_list_marked_as_such(db_url: str, home: Path) -> None:
    seed(db_url, [("AU100003", "dpd", DPD_NUMBERS[0], DAY)])
    add_untracked(db_url, "AU100005", "dpd")

    result = close(db_url, home, "dpd")

    listed = csv_rows(result.files.shipping_list_csv)
    assert [(r["Auftragsnummer"], r["Sendungsnummer"]) for r in listed] == [
        ("AU100003", DPD_NUMBERS[0]),
        ("AU100005", "ohne Sendungsnummer"),
    ]
    assert result.counts.newly_closed == 2
    assert untracked_closed(db_url) == [True]
