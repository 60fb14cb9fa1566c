"""Which of an order's items travel in which parcel, for portals that want items per package.

Amazon takes one `OrderFulfillment` message per package with the items in it, eBay one shipping
fulfillment per package with its line items and quantities. liefern records no item-to-parcel
assignment (a parcel is a carrier and a tracking number), so the order's pieces are split
evenly: item by item in the order given, cut into `parcel_count` consecutive runs whose sizes
differ by at most one, the longer runs first. Every parcel gets at least one piece where the
order has enough of them, and the quantities add up to the order's.

Pure and deterministic: the same parcel of the same order always gets the same items, so a
resend repeats what was sent. An order with fewer pieces than parcels (one item, two parcels)
leaves the later parcels without a piece of their own: `parcel_items` gives them nothing and
the portal's mapping decides what its API allows for such a parcel (see `spare_piece`).
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import ParcelShipment, ShipmentItem


def split_items(items: Sequence[ShipmentItem], parcel_count: int) -> list[tuple[ShipmentItem, ...]]:
    """The items of each of `parcel_count` parcels, in parcel order."""
    count = max(1, parcel_count)
    total = sum(max(0, item.quantity) for item in items)
    base, longer = divmod(total, count)
    parcels: list[tuple[ShipmentItem, ...]] = []
    start = 0
    for index in range(count):
        end = start + base + (1 if index < longer else 0)
        parcels.append(_pieces(items, start, end))
        start = end
    return parcels


def _pieces(items: Sequence[ShipmentItem], start: int, end: int) -> tuple[ShipmentItem, ...]:
    """The items whose pieces fall in [start, end) of the order's pieces counted in a row."""
    chosen: list[ShipmentItem] = []
    first = 0
    for item in items:
        last = first + max(0, item.quantity)
        quantity = min(last, end) - max(first, start)
        if quantity > 0:
            chosen.append(ShipmentItem(item.item_id, quantity, item.sku))
        first = last
    return tuple(chosen)


def parcel_items(shipment: ParcelShipment) -> tuple[ShipmentItem, ...]:
    """This parcel's share of the order's items (all of them for a one-parcel order)."""
    if shipment.parcel_count == 1:
        return shipment.items
    return split_items(shipment.items, shipment.parcel_count)[shipment.parcel_index]


def spare_piece(shipment: ParcelShipment) -> ShipmentItem | None:
    """For a parcel without a piece of its own: one piece of the item it most likely rides
    with (the pieces counted round again), so its tracking number can travel on that item."""
    pieces = [item for item in shipment.items if item.quantity > 0]
    total = sum(item.quantity for item in pieces)
    if not total:
        return None
    position = shipment.parcel_index % total
    for item in pieces:
        if position < item.quantity:
            return ShipmentItem(item.item_id, 1, item.sku)
        position -= item.quantity
    return None  # not reached: position < total
