"""The ledger results every connector answers with, built one way everywhere."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from connectors.base import ConfirmationResult, ParcelShipment
from connectors.errors import AuthError, ConnectorError, Rejected
from core.domain import ConfirmationStatus


def confirmed(
    shipment: ParcelShipment, reference: str | None, note: str | None = None
) -> ConfirmationResult:
    return ConfirmationResult(
        confirmation_id=shipment.confirmation_id,
        status=ConfirmationStatus.CONFIRMED,
        reference=reference,
        extra={"note": note} if note else {},
    )


def ended(
    confirmation_id: int, status: ConfirmationStatus, code: str | None, text: str
) -> ConfirmationResult:
    """A row that ends without a reference: rejected, failed, skipped, with the reason."""
    return ConfirmationResult(
        confirmation_id=confirmation_id, status=status, error_code=code, error_text=text
    )


def rejected(shipment: ParcelShipment, code: str, text: str) -> ConfirmationResult:
    return ended(shipment.confirmation_id, ConfirmationStatus.REJECTED, code, text)


def failed(shipment: ParcelShipment, code: str, text: str) -> ConfirmationResult:
    return ended(shipment.confirmation_id, ConfirmationStatus.FAILED, code, text)


def skipped(shipment: ParcelShipment, code: str, text: str) -> ConfirmationResult:
    return ended(shipment.confirmation_id, ConfirmationStatus.SKIPPED, code, text)


def for_error(confirmation_id: int, error: ConnectorError) -> ConfirmationResult:
    """Rejected stays rejected in the service's words (fix the data); anything else failed
    with its code in the text (a later run retries)."""
    if isinstance(error, Rejected):
        return ended(confirmation_id, ConfirmationStatus.REJECTED, error.code, error.message)
    return ended(confirmation_id, ConfirmationStatus.FAILED, error.code, str(error))


async def settle(
    shipment: ParcelShipment, outcome: Awaitable[ConfirmationResult], log: logging.Logger
) -> ConfirmationResult:
    """`outcome`'s result; a connector error becomes the row's result, an AuthError stops the
    batch, and a bug fails the row loudly instead of sinking the batch."""
    try:
        return await outcome
    except AuthError:
        raise
    except Rejected as error:
        return rejected(shipment, error.code or "rejected", error.message)
    except ConnectorError as error:
        return failed(shipment, error.code or type(error).__name__, error.message)
    except Exception as error:
        log.exception("parcel %s: unexpected error", shipment.confirmation_id)
        return failed(shipment, "internal", f"{type(error).__name__}: {error}")
