"""The problems list from the database (SQLite and PostgreSQL): the SQL picks exactly the
parcels the rule calls problems, with order, portal, carrier, number, problem and since when."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from core.watchlist import ParcelFacts, Problem, Thresholds, problem_of
from db.models import Order, Parcel, ShippingMail
from db.queries.watchlist import count_problem_parcels, problem_parcels
from db.session import session_scope
from tests.watch_seed import Shipped, ship

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
RULE = Thresholds(first_scan_hours=48, stalled_days=3)
H = timedelta(hours=1)
D = timedelta(days=1)


def cases() -> list[Shipped]:
    scanned = {"delivery_status": "in_transit", "first_scan_at": NOW - 4 * D}
    return [
        Shipped(NOW - 49 * H),  # no first scan
        Shipped(NOW - 47 * H),  # not yet
        Shipped(NOW - 48 * H, {"delivery_status": "announced", "tracked_at": NOW - H}),  # boundary
        Shipped(NOW - 5 * D, {**scanned, "last_event_at": NOW - 3 * D}),  # stalled
        Shipped(NOW - 5 * D, {**scanned, "last_event_at": NOW - 2 * D}),  # moving
        Shipped(NOW - 5 * D, {"delivery_status": "lost", "last_event_at": NOW - D}),
        Shipped(NOW - H, {"delivery_status": "exception", "status_text": "Beschädigt"}),
        Shipped(
            NOW - 5 * D,
            {**scanned, "last_event_at": NOW - H, "expected_delivery": date(2026, 12, 4)},
        ),  # overdue
        Shipped(NOW - 9 * D, {"delivery_status": "delivered", "first_scan_at": NOW - 8 * D}),
        Shipped(NOW - 9 * D, {"delivery_status": "returned"}),
        Shipped(NOW - 9 * D, order={"status": "arrived"}),  # the buyer said it arrived
        Shipped(NOW - 9 * D, {"tracking_number": None}),  # untracked: nothing to watch
        Shipped(None, order={"shipped_at": NOW - 3 * D}),  # no mail row: shipped time counts
        Shipped(NOW - H, order={"shipped_at": NOW - 9 * D}),  # the mail's time wins
    ]


def test_the_list_holds_exactly_the_parcels_the_rule_calls_problems(settings):
    order_nos = ship(settings.db_url, cases())
    with session_scope(settings.db_url) as session:
        found = problem_parcels(session, now=NOW, thresholds=RULE)
        count = count_problem_parcels(session, now=NOW, thresholds=RULE)
    by_order = {p.order_no: p.problem for p in found}
    expected = {
        order_nos[0]: Problem.NO_FIRST_SCAN,
        order_nos[2]: Problem.NO_FIRST_SCAN,
        order_nos[3]: Problem.STALLED,
        order_nos[5]: Problem.EXCEPTION,
        order_nos[6]: Problem.EXCEPTION,
        order_nos[7]: Problem.OVERDUE,
        order_nos[12]: Problem.NO_FIRST_SCAN,
    }
    assert by_order == expected
    assert count == len(expected)


def test_the_sql_agrees_with_the_rule_on_every_parcel(settings):
    ship(settings.db_url, cases())
    for now in (NOW - 2 * D, NOW, NOW + 3 * D):
        with session_scope(settings.db_url) as session:
            listed = {p.parcel_id for p in problem_parcels(session, now=now, thresholds=RULE)}
            rows = session.execute(
                select(Parcel, Order.status, Order.shipped_at, ShippingMail.finished_at)
                .join(Order, Order.id == Parcel.order_id)
                .outerjoin(ShippingMail, ShippingMail.order_id == Order.id)
            ).all()
        by_rule = {
            parcel.id
            for parcel, status, shipped_at, mailed in rows
            if status == "shipped"
            and parcel.tracking_number
            and problem_of(
                ParcelFacts(
                    parcel.delivery_status,
                    parcel.first_scan_at,
                    parcel.last_event_at,
                    parcel.expected_delivery,
                    mailed or shipped_at,
                ),
                now=now,
                thresholds=RULE,
            )
        }
        assert listed == by_rule, now


def test_each_line_says_where_what_and_since_when(settings):
    [lost, damaged, silent] = ship(
        settings.db_url,
        [
            Shipped(NOW - 5 * D, {"delivery_status": "lost", "last_event_at": NOW - D}),
            Shipped(
                NOW - H,
                {
                    "delivery_status": "exception",
                    "status_text": "Beschädigt",
                    "last_event_at": NOW - H,
                    "tracked_at": NOW,
                },
            ),
            Shipped(NOW - 50 * H),
        ],
    )
    with session_scope(settings.db_url) as session:
        found = problem_parcels(session, now=NOW, thresholds=RULE)
    assert [p.order_no for p in found] == [lost, damaged, silent]  # exceptions, oldest first
    line = found[1]
    assert (line.carrier, line.problem, line.since) == ("dhl", Problem.EXCEPTION, NOW - H)
    assert line.status_text == "Beschädigt" and line.asked
    assert line.tracking_number and line.portal
    assert found[2].since == NOW - 2 * H and not found[2].asked
    assert found[2].as_dict()["problem"] == "no_first_scan"


def test_the_list_is_limited_but_the_count_is_not(settings):
    ship(settings.db_url, [Shipped(NOW - 3 * D) for _ in range(5)])
    with session_scope(settings.db_url) as session:
        assert len(problem_parcels(session, now=NOW, thresholds=RULE, limit=2)) == 2
        assert count_problem_parcels(session, now=NOW, thresholds=RULE) == 5
