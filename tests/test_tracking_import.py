"""Importing tracking numbers into the store: matching, idempotency, every bad row named."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from core.tracking_csv import read_tracking_file
from db.models import Order, Parcel
from db.queries.imports import create_import, import_summary
from db.session import session_scope
from tasks.tracking_import import import_rows
from tests.helpers import numbers, seed_orders

TODAY = date(2026, 11, 26)


def run_import(
    db_url: str, data: bytes, *, file_format: str | None = None, carrier: str | None = None
) -> dict[str, object]:
    table = read_tracking_file(data, file_format=file_format, carrier=carrier)
    with session_scope(db_url) as session:
        import_id = create_import(
            session,
            file_name="t.csv",
            sha256="x",
            archive_path="-",
            file_format=file_format,
            carrier=carrier,
            source="test",
        )
    outcome = import_rows(
        db_url,
        import_id=import_id,
        frame=table.frame,
        headers=table.headers,
        preset=table.preset,
        carrier=carrier,
        today=TODAY,
        source="import",
    )
    return {
        "imported": outcome.imported,
        "already_known": outcome.already_known,
        "rejected": [p.as_dict() for p in outcome.problems],
        "import_id": import_id,
    }


def parcel_count(db_url: str) -> int:
    with session_scope(db_url) as session:
        return int(session.scalar(select(func.count(Parcel.id))) or 0)


def test_good_rows_import_and_bad_rows_are_named(db_url: str) -> None:
    seed_orders(db_url, 3)
    dhl = numbers("dhl", 2)
    data = (
        "order_no;carrier;tracking_number;ship_date\n"
        f"AU100001;dhl;{dhl[0]};2026-11-24\n"
        f"AU100002;DHL Paket;{dhl[1]};\n"
        "AU100003;dhl;3,40434E+17;\n"
        "AU999999;dhl;00340434161094042557;\n"
        "AU100003;Brieftaube;123;\n"
        "AU100003;dpd;01234567890123;gestern\n"
    ).encode()
    result = run_import(db_url, data)
    assert result["imported"] == 2
    rejected = result["rejected"]
    assert [(r["row"], r["column"], r["code"]) for r in rejected] == [  # type: ignore[union-attr]
        (4, "tracking_number", "scientific_notation"),
        (5, "order_no", "order_not_found"),
        (6, "carrier", "carrier_unknown"),
        (7, "ship_date", "bad_ship_date"),
    ]
    assert all(r["message"] for r in rejected)  # type: ignore[union-attr]
    assert parcel_count(db_url) == 2


def test_reimporting_the_same_file_changes_nothing(db_url: str) -> None:
    seed_orders(db_url, 2)
    data = f"order_no;carrier;tracking_number\nAU100001;dpd;{numbers('dpd', 1)[0]}\n".encode()
    first = run_import(db_url, data)
    second = run_import(db_url, data)
    assert (first["imported"], first["already_known"]) == (1, 0)
    assert (second["imported"], second["already_known"], second["rejected"]) == (0, 1, [])
    assert parcel_count(db_url) == 1


def test_twenty_digit_and_eighteen_digit_dhl_numbers_are_one_parcel(db_url: str) -> None:
    seed_orders(db_url, 1)
    twenty = numbers("dhl", 1)[0]
    data = f"order_no;carrier;tracking_number\nAU100001;dhl;{twenty}\nAU100001;dhl;{twenty[2:]}\n"
    result = run_import(db_url, data.encode())
    assert (result["imported"], result["already_known"]) == (1, 1)


def test_tracking_number_of_another_order_is_rejected(db_url: str) -> None:
    seed_orders(db_url, 2)
    number = numbers("gls", 1)[0]
    run_import(db_url, f"order_no;carrier;tracking_number\nAU100001;gls;{number}\n".encode())
    result = run_import(
        db_url, f"order_no;carrier;tracking_number\nAU100002;gls;{number}\n".encode()
    )
    assert [r["code"] for r in result["rejected"]] == ["tracking_on_other_order"]  # type: ignore[union-attr]


def test_several_parcels_per_order_and_match_by_portal_order_id(db_url: str) -> None:
    samples = seed_orders(db_url, 1)
    portal_id = samples[0].order["portal_order_id"]
    a, b = numbers("ups", 2)
    data = f"Bestellnummer,Carrier,Tracking Number\n{portal_id},UPS,{a}\nAU100001,ups,{b}\n"
    result = run_import(db_url, data.encode())
    assert result["imported"] == 2
    with session_scope(db_url) as session:
        order = session.scalars(select(Order).where(Order.order_no == "AU100001")).one()
        assert sorted(p.tracking_number for p in order.parcels) == sorted([a, b])


def test_jtl_delivery_note_numbers_find_their_order(db_url: str) -> None:
    seed_orders(db_url, 1)
    number = numbers("hermes", 1)[0]
    data = f"Lieferscheinnummer;Versandart;Trackingnummer\nAU100001-002;Hermes;{number}\n"
    assert run_import(db_url, data.encode(), file_format="jtl")["imported"] == 1


def test_carrier_preset_fills_rows_without_carrier(db_url: str) -> None:
    seed_orders(db_url, 1)
    data = f"Paketnummer;Referenz 1\n{numbers('dpd', 1)[0]};AU100001\n".encode("cp1252")
    result = run_import(db_url, data, file_format="dpd")
    assert result["imported"] == 1
    with session_scope(db_url) as session:
        assert session.scalars(select(Parcel.carrier)).all() == ["dpd"]


def test_ship_date_defaults_to_today_and_reads_german_dates(db_url: str) -> None:
    seed_orders(db_url, 2)
    a, b = numbers("dhl", 2, seed=9)
    data = (
        "order_no;carrier;tracking_number;Versanddatum\n"
        f"AU100001;dhl;{a};\nAU100002;dhl;{b};23.11.2026\n"
    )
    run_import(db_url, data.encode())
    with session_scope(db_url) as session:
        dates = dict(session.execute(select(Parcel.tracking_number, Parcel.ship_date)).all())
    assert dates[a[2:]] == TODAY
    assert dates[b[2:]] == date(2026, 11, 23)


def test_cancelled_order_gets_no_parcel(db_url: str) -> None:
    seed_orders(db_url, 1)
    with session_scope(db_url) as session:
        session.scalars(select(Order)).one().status = "cancelled"
    data = f"order_no;carrier;tracking_number\nAU100001;dpd;{numbers('dpd', 1)[0]}\n".encode()
    assert [r["code"] for r in run_import(db_url, data)["rejected"]] == ["order_cancelled"]  # type: ignore[union-attr]


def test_rejections_are_stored_with_the_import(db_url: str) -> None:
    seed_orders(db_url, 1)
    result = run_import(db_url, b"order_no;carrier;tracking_number\nAU100001;dhl;12\n")
    with session_scope(db_url) as session:
        summary = import_summary(session, import_id=int(result["import_id"]))  # type: ignore[call-overload]
    assert summary is not None
    assert summary["rejected"] == result["rejected"]
