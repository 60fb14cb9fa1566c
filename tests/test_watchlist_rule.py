"""The watchlist rule at its boundaries: which parcel is a problem, and since when."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.settings import Settings
from core.watchlist import ParcelFacts, Problem, Thresholds, problem_of

MAILED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
RULE = Thresholds(first_scan_hours=48, stalled_days=3)
SECOND = timedelta(seconds=1)


def facts(**changes: object) -> ParcelFacts:
    base: dict[str, object] = dict(
        delivery_status=None,
        first_scan_at=None,
        last_event_at=None,
        expected_delivery=None,
        mailed_at=MAILED,
    )
    return ParcelFacts(**{**base, **changes})  # type: ignore[arg-type]


def test_no_first_scan_begins_exactly_the_threshold_after_the_mail():
    deadline = MAILED + timedelta(hours=48)
    assert problem_of(facts(), now=deadline - SECOND, thresholds=RULE) is None
    found = problem_of(facts(), now=deadline, thresholds=RULE)
    assert found is not None and found.problem is Problem.NO_FIRST_SCAN
    assert found.since == deadline


def test_an_announced_parcel_counts_as_not_scanned():
    found = problem_of(
        facts(delivery_status="announced"), now=MAILED + timedelta(days=3), thresholds=RULE
    )
    assert found is not None and found.problem is Problem.NO_FIRST_SCAN


def test_the_threshold_of_the_first_scan_follows_the_setting():
    rule = Thresholds(first_scan_hours=24, stalled_days=3)
    now = MAILED + timedelta(hours=24)
    assert problem_of(facts(), now=now, thresholds=rule) is not None
    assert problem_of(facts(), now=now, thresholds=RULE) is None


def test_a_parcel_without_a_mail_time_is_not_judged_by_its_first_scan():
    later = MAILED + timedelta(days=9)
    assert problem_of(facts(mailed_at=None), now=later, thresholds=RULE) is None


def test_stalled_begins_exactly_the_threshold_after_the_last_event():
    scanned = MAILED + timedelta(hours=5)
    last = MAILED + timedelta(days=1)
    parcel = facts(delivery_status="in_transit", first_scan_at=scanned, last_event_at=last)
    assert problem_of(parcel, now=last + timedelta(days=3) - SECOND, thresholds=RULE) is None
    found = problem_of(parcel, now=last + timedelta(days=3), thresholds=RULE)
    assert found is not None and found.problem is Problem.STALLED
    assert found.since == last + timedelta(days=3)


@pytest.mark.parametrize("status", ["exception", "undeliverable", "lost"])
def test_trouble_reported_by_the_carrier_is_an_exception_at_once(status):
    event = MAILED + timedelta(hours=20)
    parcel = facts(delivery_status=status, first_scan_at=MAILED, last_event_at=event)
    found = problem_of(parcel, now=event + SECOND, thresholds=RULE)
    assert found is not None and found.problem is Problem.EXCEPTION and found.since == event


@pytest.mark.parametrize("status", ["delivered", "returned"])
def test_delivered_and_returned_parcels_are_never_problems(status):
    parcel = facts(
        delivery_status=status,
        first_scan_at=None,
        last_event_at=MAILED,
        expected_delivery=date(2026, 12, 2),
    )
    assert problem_of(parcel, now=MAILED + timedelta(days=60), thresholds=RULE) is None


def test_overdue_begins_at_midnight_german_time_after_the_expected_day():
    parcel = facts(
        delivery_status="in_transit",
        first_scan_at=MAILED,
        last_event_at=MAILED + timedelta(days=1),
        expected_delivery=date(2026, 12, 3),
    )
    midnight_berlin = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)  # CET is UTC+1 in December
    assert problem_of(parcel, now=midnight_berlin - SECOND, thresholds=RULE) is None
    found = problem_of(parcel, now=midnight_berlin, thresholds=RULE)
    assert found is not None and found.problem is Problem.OVERDUE
    assert found.since == midnight_berlin


def test_an_exception_outranks_the_other_problems():
    parcel = facts(delivery_status="exception", expected_delivery=date(2026, 12, 1))
    found = problem_of(parcel, now=MAILED + timedelta(days=10), thresholds=RULE)
    assert found is not None and found.problem is Problem.EXCEPTION


def test_a_parcel_on_its_way_in_time_is_no_problem():
    parcel = facts(
        delivery_status="out_for_delivery",
        first_scan_at=MAILED + timedelta(hours=3),
        last_event_at=MAILED + timedelta(days=1),
        expected_delivery=date(2026, 12, 2),
    )
    assert problem_of(parcel, now=MAILED + timedelta(days=1, hours=2), thresholds=RULE) is None


def test_the_thresholds_come_from_liefern_settings(monkeypatch):
    monkeypatch.setenv("LIEFERN_WATCH_FIRST_SCAN_HOURS", "36")
    monkeypatch.setenv("LIEFERN_WATCH_STALLED_DAYS", "5")
    assert Settings().watch_thresholds() == Thresholds(36, 5)
    monkeypatch.setenv("LIEFERN_WATCH_STALLED_DAYS", "0")
    with pytest.raises(ValueError, match="thresholds"):
        Settings()
