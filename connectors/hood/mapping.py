"""Pure mapping for Hood.de: parcel shipments → `updateOrderStatus` XML, Hood's answer → results.

What several public client libraries agree on (treated as verified):
  POST to https://www.hood.de/api.htm, body `text/xml; charset=UTF-8`, root
  `<api type="public" version="…" user="NAME" password="MD5">` followed by `<function>`,
  `<accountName>` and `<accountPass>` (MD5 hex of the API password), then the function's data.

What no public document shows (assumed, all in UNVERIFIED_ORDER_STATUS_SHAPE below):
  the data elements of `updateOrderStatus`, the value that means "shipped", the carrier labels,
  how many orders one request may carry, and the shape of Hood's answer to it (apart from the
  name `globalError`). The simulator imports the same table, so a correction made here moves
  connector and simulator together. See connectors/hood/README.md.

This module imports neither httpx nor a database: it is tested from fixture files alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from lxml import etree

from connectors.base import ConfirmationResult, ParcelShipment
from connectors.errors import TransientError
from connectors.xml import UntrustedXmlError, element_text, parse_untrusted_xml
from core.domain import ConfirmationStatus

HOOD_API_URL = "https://www.hood.de/api.htm"
CONTENT_TYPE = "text/xml; charset=UTF-8"


@dataclass(frozen=True, slots=True)
class Envelope:
    """The request envelope every Hood API call shares (verified from client libraries)."""

    root: str = "api"
    type_attr: str = "type"
    type_value: str = "public"
    version_attr: str = "version"
    version_value: str = "2.0"
    user_attr: str = "user"
    password_attr: str = "password"  # noqa: S105 - an attribute name, not a password
    function: str = "function"
    account_name: str = "accountName"
    account_pass: str = "accountPass"  # noqa: S105 - an element name, not a password


ENVELOPE = Envelope()


def _default_carrier_labels() -> Mapping[str, str]:
    return MappingProxyType(
        {
            "dhl": "DHL",
            "deutsche_post": "Deutsche Post",
            "dhl_express": "DHL Express",
            "dpd": "DPD",
            "ups": "UPS",
            "gls": "GLS",
            "hermes": "Hermes",
            "fedex": "FedEx",
            # "other": no label; the carrier element is left out
        }
    )


@dataclass(frozen=True)
class OrderStatusShape:
    """Every name in the `updateOrderStatus` exchange that no public Hood document confirms.

    Change a value here (after checking Hood's PDF, "Hood API Doc" 2.0.1, section on
    updateOrderStatus) and both the connector and the simulator follow.
    """

    source: str
    # --- request -------------------------------------------------------------------------
    function: str = "updateOrderStatus"  # listed in Hood's function overview; payload not shown
    orders: str = "orders"
    order: str = "order"
    order_id: str = "orderID"
    status_action: str = "statusAction"
    status_action_shipped: str = "shipped"
    tracking_code: str = "trackingCode"
    carrier: str = "carrier"
    max_orders_per_request: int = 5  # by analogy with itemUpdate (documented: up to 5 items)
    carrier_labels: Mapping[str, str] = field(default_factory=_default_carrier_labels)
    # --- answer --------------------------------------------------------------------------
    answer_root: str = "response"  # only the simulator writes it; the parser accepts any root
    global_error: str = "globalError"  # the name is known; where it sits and what it holds is not
    answer_orders: str = "orders"
    answer_order: str = "order"
    answer_order_id: str = "orderID"
    answer_status: str = "status"
    answer_success_values: frozenset[str] = frozenset({"success"})
    answer_message: str = "message"
    # lower-case fragments of a globalError text that mean "account name or password refused"
    auth_error_markers: tuple[str, ...] = (
        "accountname",
        "accountpass",
        "passwort",
        "password",
        "login",
        "benutzername",
    )


UNVERIFIED_ORDER_STATUS_SHAPE = OrderStatusShape(
    source=(
        "assumed: element names as used by a public Python client written against "
        "Hood API Doc 2.0.1 (orders/order/orderID, statusAction, trackingCode, carrier); "
        "statusAction value, carrier labels, batch size and answer shape are guesses"
    ),
)


class HoodParseError(TransientError):
    """Hood's answer could not be read (malformed XML, DTD, or no known elements)."""


@dataclass(frozen=True, slots=True)
class HoodParcel:
    """One `<order>` element of an updateOrderStatus request."""

    confirmation_id: int
    order_id: str
    tracking_code: str
    carrier_label: str | None


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    order_id: str
    ok: bool
    status: str
    message: str | None


@dataclass(frozen=True, slots=True)
class HoodAnswer:
    global_error: str | None
    orders: Mapping[str, OrderOutcome]


# XML 1.0 `Char` production: anything else cannot be carried, escaped or not.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> bool:
    return _NOT_XML_CHAR.search(text) is None


def check_shipment(shipment: ParcelShipment) -> str | None:
    """Why Hood could not be told about this parcel, or None when it can be sent."""
    if not shipment.portal_order_id.strip():
        return "Hood order id (portal_order_id) is empty"
    if shipment.tracking_number is None:
        # nothing public says whether updateOrderStatus takes a status without trackingCode
        return (
            "shipped without tracking number: Hood's order status update without tracking "
            "code is not documented publicly; mark this order shipped by hand in myHood"
        )
    if not shipment.number:
        return "tracking number is empty"
    for label, value in (
        ("Hood order id", shipment.portal_order_id),
        ("tracking number", shipment.tracking_number),
    ):
        if not xml_safe(value):
            return f"{label} contains control characters that XML cannot carry"
    return None


def to_parcel(
    shipment: ParcelShipment, shape: OrderStatusShape = UNVERIFIED_ORDER_STATUS_SHAPE
) -> HoodParcel:
    return HoodParcel(
        confirmation_id=shipment.confirmation_id,
        order_id=shipment.portal_order_id.strip(),
        tracking_code=shipment.number,
        carrier_label=shape.carrier_labels.get(shipment.carrier),
    )


def chunk_parcels(parcels: Sequence[HoodParcel], max_per_request: int) -> list[list[HoodParcel]]:
    """Requests of at most `max_per_request` orders, no order twice in one request.

    An order with two parcels goes out in two requests, so every `<order>` of an answer
    names exactly one ledger row."""
    if max_per_request < 1:
        raise ValueError("max_per_request must be >= 1")
    chunks: list[list[HoodParcel]] = []
    for parcel in parcels:
        for chunk in chunks:
            if len(chunk) < max_per_request and all(p.order_id != parcel.order_id for p in chunk):
                chunk.append(parcel)
                break
        else:
            chunks.append([parcel])
    return chunks


def build_envelope(function: str, *, account_name: str, password_md5: str) -> etree._Element:
    root = etree.Element(
        ENVELOPE.root,
        {
            ENVELOPE.type_attr: ENVELOPE.type_value,
            ENVELOPE.version_attr: ENVELOPE.version_value,
            ENVELOPE.user_attr: account_name,
            ENVELOPE.password_attr: password_md5,
        },
    )
    etree.SubElement(root, ENVELOPE.function).text = function
    etree.SubElement(root, ENVELOPE.account_name).text = account_name
    etree.SubElement(root, ENVELOPE.account_pass).text = password_md5
    return root


def build_update_order_status(
    parcels: Sequence[HoodParcel],
    *,
    account_name: str,
    password_md5: str,
    shape: OrderStatusShape = UNVERIFIED_ORDER_STATUS_SHAPE,
) -> bytes:
    """The request body; lxml escapes every text and attribute value."""
    root = build_envelope(shape.function, account_name=account_name, password_md5=password_md5)
    orders = etree.SubElement(root, shape.orders)
    for parcel in parcels:
        order = etree.SubElement(orders, shape.order)
        etree.SubElement(order, shape.order_id).text = parcel.order_id
        etree.SubElement(order, shape.status_action).text = shape.status_action_shipped
        etree.SubElement(order, shape.tracking_code).text = parcel.tracking_code
        if parcel.carrier_label:
            etree.SubElement(order, shape.carrier).text = parcel.carrier_label
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def describe_shape(shape: OrderStatusShape = UNVERIFIED_ORDER_STATUS_SHAPE) -> str:
    """One line for the log: which request shape was used."""
    return (
        f"{shape.function}: {shape.orders}/{shape.order}"
        f"{{{shape.order_id}, {shape.status_action}={shape.status_action_shipped!r}, "
        f"{shape.tracking_code}, {shape.carrier}}} max {shape.max_orders_per_request}/request "
        f"({shape.source})"
    )


def _answer_root(body: bytes) -> etree._Element:
    try:
        return parse_untrusted_xml(body)
    except UntrustedXmlError as error:
        raise HoodParseError(f"Hood's answer: {error}") from None


def _is_tag(element: etree._Element, name: str) -> bool:
    return isinstance(element.tag, str) and element.tag == name


def parse_answer(
    body: bytes, shape: OrderStatusShape = UNVERIFIED_ORDER_STATUS_SHAPE
) -> HoodAnswer:
    """Read Hood's answer to updateOrderStatus (shape assumed, see module docstring)."""
    root = _answer_root(body)
    global_error: str | None = None
    for element in root.iter():
        if _is_tag(element, shape.global_error) and element_text(element):
            global_error = element_text(element)
            break
    outcomes: dict[str, OrderOutcome] = {}
    found_orders = False
    for container in root.iter():
        if not _is_tag(container, shape.answer_orders):
            continue
        found_orders = True
        for order in container:
            if not _is_tag(order, shape.answer_order):
                continue
            order_id = element_text(order.find(shape.answer_order_id))
            if not order_id:
                continue
            status = element_text(order.find(shape.answer_status))
            message = element_text(order.find(shape.answer_message)) or None
            outcomes[order_id] = OrderOutcome(
                order_id=order_id,
                ok=status.lower() in shape.answer_success_values,
                status=status,
                message=message,
            )
    if global_error is None and not found_orders:
        raise HoodParseError(
            f"Hood's answer has neither {shape.global_error} nor {shape.answer_orders}"
        )
    return HoodAnswer(global_error=global_error, orders=MappingProxyType(outcomes))


def is_auth_error(text: str, shape: OrderStatusShape = UNVERIFIED_ORDER_STATUS_SHAPE) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in shape.auth_error_markers)


def result_for(parcel: HoodParcel, answer: HoodAnswer) -> ConfirmationResult:
    """The ledger result of one parcel, given Hood's answer to the request that carried it.

    Authentication errors are not decided here: the connector raises them before."""
    if answer.global_error is not None:
        return ConfirmationResult(
            confirmation_id=parcel.confirmation_id,
            status=ConfirmationStatus.REJECTED,
            error_code="globalError",
            error_text=answer.global_error,
        )
    outcome = answer.orders.get(parcel.order_id)
    if outcome is None:
        return ConfirmationResult(
            confirmation_id=parcel.confirmation_id,
            status=ConfirmationStatus.FAILED,
            error_text=f"Hood's answer has no entry for order {parcel.order_id}",
        )
    if outcome.ok:
        return ConfirmationResult(
            confirmation_id=parcel.confirmation_id,
            status=ConfirmationStatus.CONFIRMED,
            extra={"hood_status": outcome.status},
        )
    return ConfirmationResult(
        confirmation_id=parcel.confirmation_id,
        status=ConfirmationStatus.REJECTED,
        error_code=outcome.status or "error",
        error_text=outcome.message or f"Hood answered status {outcome.status!r}",
    )
