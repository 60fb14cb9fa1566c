"""The small interface every portal connector implements.

A connector gets a batch of parcel shipments (one per ledger row) and answers one result per
row. Synchronous portals answer `confirmed` or `rejected` at once; asynchronous ones (Amazon's
feeds) answer `submitted` with a reference and are asked again through `poll`.
Connectors never touch the database: the tasks around them commit the ledger before and after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.domain import ConfirmationStatus


@dataclass(frozen=True, slots=True)
class ShipmentItem:
    item_id: str  # the portal's line/item id (Amazon OrderItemCode, eBay lineItemId, ...)
    quantity: int
    sku: str = ""


@dataclass(frozen=True, slots=True)
class OrderParcel:
    """One parcel of an order, as far as a portal may need to know it (carrier, number)."""

    carrier: str
    tracking_number: str | None  # None: shipped without a tracking number


@dataclass(frozen=True, slots=True)
class ParcelShipment:
    """What a portal is told about one parcel of one order (one confirmation ledger row)."""

    confirmation_id: int
    order_no: str
    portal_order_id: str
    account: str
    carrier: str  # liefern carrier code (core.carriers), mapped to the portal's code by mapping.py
    # None: shipped without a tracking number (letter, untracked post); each connector says
    # what its portal allows then
    tracking_number: str | None
    shipped_at: datetime  # timezone-aware
    items: tuple[ShipmentItem, ...] = ()  # the order's items (portals allocate them to parcels)
    # all tracking numbers of the order known so far
    order_tracking_numbers: tuple[str, ...] = ()
    # every parcel of the order in id order, this one at `parcel_index`; empty means this
    # parcel is the order's only one
    order_parcels: tuple[OrderParcel, ...] = ()
    parcel_index: int = 0
    # False only when the ledger shows no earlier attempt: no call of ours can have reached
    # the portal, so a connector may skip reading back what the portal already has
    sent_before: bool = True
    # the return label's number packed into the parcel (OTTO requires it); None: none recorded
    return_tracking_number: str | None = None

    @property
    def parcel_count(self) -> int:
        return max(1, len(self.order_parcels))

    @property
    def number(self) -> str:
        """The tracking number without surrounding blanks; "" when there is none."""
        return (self.tracking_number or "").strip()

    @property
    def return_number(self) -> str:
        """The return label's tracking number without surrounding blanks; "" when none."""
        return (self.return_tracking_number or "").strip()


@dataclass(frozen=True, slots=True)
class ConfirmationResult:
    confirmation_id: int
    status: ConfirmationStatus
    reference: str | None = None  # feed id, fulfillment id, message id ...
    error_code: str | None = None
    error_text: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SubmittedConfirmation:
    """A ledger row in status `submitted` waiting for an asynchronous answer."""

    confirmation_id: int
    account: str
    reference: str  # e.g. Amazon feed id
    message_id: int | None = None  # e.g. Amazon MessageID inside the feed
    submitted_at: datetime | None = None


class PortalConnector(Protocol):
    portal: str

    def check(self, shipment: ParcelShipment) -> ConfirmationResult | None:
        """Pre-submit check: a `rejected` result for what the portal would refuse, else None."""
        ...

    async def submit(self, shipments: Sequence[ParcelShipment]) -> list[ConfirmationResult]:
        """Tell the portal; one result per shipment, never raises for a single bad row.

        Raises AuthError when the account's credentials are refused (nothing was sent)."""
        ...

    async def poll(self, submitted: Sequence[SubmittedConfirmation]) -> list[ConfirmationResult]:
        """Ask again for asynchronous results; synchronous portals return []."""
        ...

    async def aclose(self) -> None: ...
