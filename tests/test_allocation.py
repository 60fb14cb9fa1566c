"""Even split of an order's items over its parcels (no item-to-parcel record exists)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.allocation import parcel_items, spare_piece, split_items
from connectors.base import OrderParcel, ParcelShipment, ShipmentItem

A, B, C = "11111111111111", "22222222222222", "33333333333333"


def quantities(parcel: tuple[ShipmentItem, ...]) -> list[tuple[str, int]]:
    return [(i.item_id, i.quantity) for i in parcel]


def shipment(items: tuple[ShipmentItem, ...], count: int, index: int) -> ParcelShipment:
    return ParcelShipment(
        confirmation_id=1,
        order_no="1",
        portal_order_id="302-1234567-1234567",
        account="a",
        carrier="dhl",
        tracking_number=f"N{index}",
        shipped_at=datetime(2026, 11, 26, 12, tzinfo=UTC),
        items=items,
        order_parcels=tuple(OrderParcel("dhl", f"N{n}") for n in range(count)),
        parcel_index=index,
    )


def test_two_items_over_two_parcels_one_each() -> None:
    split = split_items((ShipmentItem(A, 1), ShipmentItem(B, 1)), 2)
    assert [quantities(p) for p in split] == [[(A, 1)], [(B, 1)]]


def test_three_pieces_of_one_item_over_two_parcels_two_then_one() -> None:
    split = split_items((ShipmentItem(A, 3),), 2)
    assert [quantities(p) for p in split] == [[(A, 2)], [(A, 1)]]


def test_three_parcels_share_four_pieces_of_two_items() -> None:
    split = split_items((ShipmentItem(A, 1), ShipmentItem(B, 3)), 3)
    assert [quantities(p) for p in split] == [[(A, 1), (B, 1)], [(B, 1)], [(B, 1)]]


def test_one_piece_over_two_parcels_leaves_the_second_without_a_piece() -> None:
    split = split_items((ShipmentItem(A, 1),), 2)
    assert [quantities(p) for p in split] == [[(A, 1)], []]


def test_a_one_parcel_order_keeps_all_its_items() -> None:
    items = (ShipmentItem(A, 2, "sku"), ShipmentItem(B, 1))
    assert parcel_items(replace(shipment(items, 1, 0), order_parcels=())) == items


def test_a_parcel_gets_its_own_share_and_keeps_the_sku() -> None:
    items = (ShipmentItem(A, 1, "sku-a"), ShipmentItem(B, 1, "sku-b"))
    assert parcel_items(shipment(items, 2, 1)) == (ShipmentItem(B, 1, "sku-b"),)


def test_a_parcel_without_a_piece_rides_on_one_piece_of_an_item() -> None:
    items = (ShipmentItem(A, 1, "sku-a"),)
    assert parcel_items(shipment(items, 2, 1)) == ()
    assert spare_piece(shipment(items, 2, 1)) == ShipmentItem(A, 1, "sku-a")


@given(
    st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4),
    st.integers(min_value=1, max_value=5),
)
def test_split_sums_to_the_order_and_fills_every_parcel_it_can(
    amounts: list[int], parcels: int
) -> None:
    items = tuple(ShipmentItem(f"{n:014d}", q) for n, q in enumerate(amounts))
    split = split_items(items, parcels)
    assert len(split) == parcels
    for item in items:
        assert sum(i.quantity for p in split for i in p if i.item_id == item.item_id) == (
            item.quantity
        )
    filled = sum(1 for p in split if p)
    assert filled == min(parcels, sum(amounts))
    assert split == split_items(items, parcels)  # a resend gets the same allocation


@pytest.mark.parametrize("count", [2, 3])
def test_every_piece_is_in_exactly_one_parcel(count: int) -> None:
    items = (ShipmentItem(A, 2), ShipmentItem(B, 1), ShipmentItem(C, 2))
    shares = [parcel_items(shipment(items, count, n)) for n in range(count)]
    assert sum(i.quantity for s in shares for i in s) == 5
