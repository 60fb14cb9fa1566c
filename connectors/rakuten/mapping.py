"""Pure mapping for Rakuten.de `orders/setOrderShipped`: parcel → form fields, XML answer → result.

Vendor facts from Rakuten's Shop-API documentation (webservice.rakuten.de/documentation,
method set_order_shipped, howto/auth, howto/error), kept here as data:
  * POST (recommended) to `http://webservice.rakuten.de/merchants/orders/setOrderShipped` with
    `key`, `order_no` (format XXX-XXX-XXX), `carrier`, `tracking_number` / `tracking_url`;
  * `carrier` must be one of RAKUTEN_CARRIERS and needs a tracking number or URL with it;
  * the answer is `<result><success>1</success></result>`, or `success` -1 with
    `<errors><error><code/><message/><help/></error>…</errors>`;
  * 10,000 calls per shop and day;
  * `orders/getOrders` (read rights, GET recommended; POST keeps the key out of URLs) filters
    by `search_field=order_no` + `search`; its answer lists `orders/order` with `order_no` and
    `status` (pending, editable, shipped, payout, cancelled). The documented answer carries no
    tracking number, so a read-back can tell *that* an order is shipped, not with which number.
The code Rakuten sends for a wrong key is not in the pages we could read: see
ASSUMED_AUTH_ERROR_CODES.

This module imports neither httpx nor a database: it is tested from fixture files alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from lxml import etree

from connectors.base import ConfirmationResult, ParcelShipment
from connectors.errors import TransientError
from connectors.xml import UntrustedXmlError, element_text, parse_untrusted_xml
from core.domain import ConfirmationStatus

RAKUTEN_BASE_URL = "http://webservice.rakuten.de/merchants/"
SET_ORDER_SHIPPED = "orders/setOrderShipped"
GET_ORDERS = "orders/getOrders"
NOT_EDITABLE = "3710"
# getOrders statuses meaning "marked shipped" (payout comes after shipped)
SHIPPED_STATUSES = frozenset({"shipped", "payout"})
MARKETPLACE_CLOSED_ON = date(2020, 10, 15)
DAILY_CALL_LIMIT = 10_000  # per shop and day (howto/auth)

RAKUTEN_CARRIERS: tuple[str, ...] = (
    "DHL",
    "Deutsche Post (Einschreiben)",
    "DHL Rahmenvertrag",
    "Post",
    "Post.at",
    "UPS",
    "DPD",
    "GLS",
    "Hermes",
    "Hermes-Connect",
    "Digital",
    "Spedition",
    "Tracking-Link",
)
TRACKING_LINK = "Tracking-Link"

# liefern carrier code -> Rakuten `carrier`. FedEx and "other" have no code of their own: they
# go out as "Tracking-Link" when the connector can name a tracking URL, else they are refused.
CARRIER_CODES = MappingProxyType(
    {
        "dhl": "DHL",
        "deutsche_post": "Deutsche Post (Einschreiben)",  # tracked Post items are registered
        "dhl_express": "DHL",  # DHL's tracking page also finds Express numbers
        "dpd": "DPD",
        "ups": "UPS",
        "gls": "GLS",
        "hermes": "Hermes",
    }
)

DOCUMENTED_ERRORS = MappingProxyType(
    {
        "3705": "Die Bestellung konnte nicht gefunden werden",
        "3710": "Die Bestellung befindet sich nicht im Bearbeitungs-Modus",
        "3715": "Die Bestellung besitzt kein DHL-Versand-Etikett",
        "3716": "Die Tracking-Informationen wurden nicht korrekt übergeben.",
        "4702": "Carrier stimmt nicht mit den verfügbaren Werten überein.",
        "4703": "Tracking Nummer hat falsches Format.",
    }
)
MISSING_PARAMETER = "40"  # the generic error of the documented error sample

# ASSUMED, not documented in what we could read: the error code for an unknown or revoked key.
# HTTP 401/403 are treated as authentication errors as well.
ASSUMED_AUTH_ERROR_CODES = frozenset({"10"})

ORDER_NO = re.compile(r"[A-Za-z0-9]{3}-[A-Za-z0-9]{3}-[A-Za-z0-9]{3}")
# "eine Zeichenkette bestehend aus Zeichen und Ziffern": letters and digits
TRACKING_NUMBER = re.compile(r"[A-Za-z0-9]+")


class RakutenParseError(TransientError):
    """Rakuten's answer could not be read (malformed XML, DTD, unknown shape)."""


@dataclass(frozen=True, slots=True)
class ShippedParams:
    """The fields of one setOrderShipped call, without the key (the client adds it)."""

    order_no: str
    carrier: str
    tracking_number: str
    tracking_url: str | None = None

    def form(self) -> dict[str, str]:
        fields = {
            "order_no": self.order_no,
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
        }
        if self.tracking_url:
            fields["tracking_url"] = self.tracking_url
        return fields


@dataclass(frozen=True, slots=True)
class RakutenError:
    code: str
    message: str
    help: str | None = None


@dataclass(frozen=True, slots=True)
class RakutenAnswer:
    success: bool
    errors: tuple[RakutenError, ...] = ()


def _rejected(shipment: ParcelShipment, code: str, text: str, **extra: str) -> ConfirmationResult:
    return ConfirmationResult(
        confirmation_id=shipment.confirmation_id,
        status=ConfirmationStatus.REJECTED,
        error_code=code,
        error_text=text,
        extra=dict(extra),
    )


def check_shipment(
    shipment: ParcelShipment, tracking_url: str | None = None
) -> ConfirmationResult | None:
    """A `rejected` result for what Rakuten would refuse (checked without sending), else None."""
    order_no = shipment.portal_order_id.strip()
    if not ORDER_NO.fullmatch(order_no):
        return _rejected(
            shipment,
            "invalid_order_no",
            f"Rakuten order numbers look like XXX-XXX-XXX, not {order_no!r}",
        )
    if shipment.tracking_number is None:
        return _rejected(
            shipment,
            "no_tracking_number",
            "Rakuten's setOrderShipped needs a tracking number or tracking link with the "
            "carrier; confirm this order by hand in the Rakuten back office",
        )
    if not TRACKING_NUMBER.fullmatch(shipment.number):
        return _rejected(shipment, "4703", DOCUMENTED_ERRORS["4703"], checked="before sending")
    if shipment.carrier not in CARRIER_CODES and not tracking_url:
        return _rejected(
            shipment,
            "carrier_not_supported",
            f"Rakuten has no carrier code for {shipment.carrier!r} and no tracking link is known",
        )
    return None


def to_params(shipment: ParcelShipment, tracking_url: str | None = None) -> ShippedParams:
    carrier = CARRIER_CODES.get(shipment.carrier)
    return ShippedParams(
        order_no=shipment.portal_order_id.strip(),
        carrier=carrier or TRACKING_LINK,
        tracking_number=shipment.number,
        tracking_url=None if carrier else tracking_url,
    )


def _answer_root(body: bytes) -> etree._Element:
    try:
        return parse_untrusted_xml(body)
    except UntrustedXmlError as error:
        raise RakutenParseError(f"Rakuten's answer: {error}") from None


def parse_answer(body: bytes) -> RakutenAnswer:
    root = _answer_root(body)
    if root.tag != "result":
        raise RakutenParseError(f"Rakuten's answer has root <{root.tag}>, expected <result>")
    success = element_text(root.find("success"))
    if success == "1":
        return RakutenAnswer(success=True)
    if success != "-1":
        raise RakutenParseError(f"Rakuten's answer has success={success!r}, expected 1 or -1")
    errors = tuple(
        RakutenError(
            code=element_text(error.find("code")),
            message=element_text(error.find("message")),
            help=element_text(error.find("help")) or None,
        )
        for error in root.iterfind("errors/error")
    )
    return RakutenAnswer(success=False, errors=errors)


def is_auth_error(answer: RakutenAnswer) -> bool:
    return any(error.code in ASSUMED_AUTH_ERROR_CODES for error in answer.errors)


def result_for(confirmation_id: int, answer: RakutenAnswer) -> ConfirmationResult:
    if answer.success:
        return ConfirmationResult(confirmation_id, ConfirmationStatus.CONFIRMED)
    if not answer.errors:
        return ConfirmationResult(
            confirmation_id,
            ConfirmationStatus.REJECTED,
            error_text="Rakuten answered success=-1 without an error",
        )
    first = answer.errors[0]
    return ConfirmationResult(
        confirmation_id,
        ConfirmationStatus.REJECTED,
        error_code=first.code or None,
        error_text="; ".join(e.message or f"error {e.code}" for e in answer.errors),
        extra={"help": first.help} if first.help else {},
    )


# --- reading an order back (getOrders) -----------------------------------------------------------


def order_lookup(order_no: str) -> dict[str, str]:
    """getOrders fields (without the key) that list this one order."""
    return {"search_field": "order_no", "search": order_no.strip()}


def parse_order_status(body: bytes, order_no: str) -> tuple[RakutenAnswer, str | None]:
    """getOrders' answer and the status it lists for `order_no` (None: not listed)."""
    answer = parse_answer(body)
    if not answer.success:
        return answer, None
    root = _answer_root(body)
    for order in root.iterfind("orders/order"):
        if element_text(order.find("order_no")) == order_no.strip():
            return answer, element_text(order.find("status")) or None
    return answer, None


def after_not_editable(
    shipment: ParcelShipment, status: str | None, *, ours_may_have_gone_through: bool
) -> ConfirmationResult:
    """The result for a parcel whose setOrderShipped answered 3710, from the order's status.

    Shipped while a call of ours may have done it (an earlier run, or a try whose answer got
    lost) is our shipment: confirmed. Shipped although no call of ours can have reached
    Rakuten was done elsewhere (by hand in the back office), with a number we cannot see."""
    cid, order_no = shipment.confirmation_id, shipment.portal_order_id.strip()
    if status in SHIPPED_STATUSES and ours_may_have_gone_through:
        return ConfirmationResult(
            cid,
            ConfirmationStatus.CONFIRMED,
            extra={
                "note": f"Rakuten holds order {order_no} as '{status}' (read back with "
                "getOrders after a repeated call; Rakuten does not show the tracking number "
                "there)"
            },
        )
    text = DOCUMENTED_ERRORS[NOT_EDITABLE]
    if status in SHIPPED_STATUSES:
        reason = (
            f"{text}: order {order_no} is '{status}' on Rakuten, marked shipped without "
            "liefern (by hand?); check its tracking number in the Rakuten back office"
        )
    elif status == "cancelled":
        reason = f"{text}: order {order_no} is cancelled on Rakuten; nothing to confirm"
    elif status == "pending":
        reason = (
            f"{text}: order {order_no} is not released for shipping yet (status pending); "
            "confirm it by hand once Rakuten releases it"
        )
    elif status is None:
        reason = f"{text}: getOrders does not list order {order_no}"
    else:
        reason = f"{text}: order {order_no} has status '{status}' on Rakuten"
    return _rejected(shipment, NOT_EDITABLE, reason, status=status or "")
