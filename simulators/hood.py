"""A local stand-in for Hood.de's XML API (`POST /api.htm`), in memory.

It checks the envelope and the MD5 of the API password exactly as the verified part of the
API says, and answers `updateOrderStatus` in the shape the connector assumes: both import
`connectors.hood.mapping.UNVERIFIED_ORDER_STATUS_SHAPE`, so they cannot drift apart, and the
simulator proves only that the connector is consistent with that assumption.

Faults for tests and demos: the next N requests answer 5xx, the next N answers are cut off
(after the update was applied, like a lost response), the next N answers come late.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.hood.mapping import (
    UNVERIFIED_ORDER_STATUS_SHAPE,
    OrderStatusShape,
)
from connectors.xml import UntrustedXmlError, element_text, parse_untrusted_xml
from simulators.knobs import XmlFaults

API_PATH = "/api.htm"
CONTENT_TYPE = "text/xml; charset=UTF-8"


@dataclass(frozen=True, slots=True)
class Envelope:
    """The request envelope of every Hood API call, as the public client libraries send it
    (written down here, not taken from the connector). The order-status part has no public
    description at all: simulator and connector share that one table of assumptions,
    connectors.hood.mapping.UNVERIFIED_ORDER_STATUS_SHAPE, until Hood's PDF is at hand."""

    root: str = "api"
    type_attr: str = "type"
    type_value: str = "public"
    user_attr: str = "user"
    password_attr: str = "password"  # noqa: S105 - an attribute name
    function: str = "function"
    account_name: str = "accountName"
    account_pass: str = "accountPass"  # noqa: S105 - an element name


ENVELOPE = Envelope()


def _md5_hex(password: str) -> str:
    """Hood's accountPass: the MD5 of the API password (Hood's choice, not a security one)."""
    return hashlib.md5(password.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass
class HoodOrder:
    order_id: str
    account_name: str
    status: str = "open"  # open | shipped | cancelled
    tracking_codes: list[str] = field(default_factory=list)
    carriers: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _OrderAnswer:
    order_id: str
    status: str
    message: str | None = None


def _child_text(parent: etree._Element, name: str) -> str:
    return element_text(parent.find(name))


class HoodSimulator(XmlFaults):
    def __init__(
        self,
        accounts: Mapping[str, str],
        orders: Iterable[HoodOrder] = (),
        *,
        shape: OrderStatusShape = UNVERIFIED_ORDER_STATUS_SHAPE,
    ) -> None:
        super().__init__()
        self.accounts = dict(accounts)  # accountName -> API password (plain)
        self.shape = shape
        self.orders: dict[str, HoodOrder] = {order.order_id: order for order in orders}

    # --- seeding and fault knobs ------------------------------------------------------------
    def seed(self, order_id: str, account_name: str, status: str = "open") -> HoodOrder:
        order = HoodOrder(order_id=order_id, account_name=account_name, status=status)
        with self._lock:
            self.orders[order_id] = order
        return order

    # --- the endpoint -----------------------------------------------------------------------
    async def endpoint(self, request: Request) -> Response:
        return await self.respond(request, self._answer_request, CONTENT_TYPE)

    async def _answer_request(self, request: Request) -> bytes:
        body = await request.body()
        with self._lock:
            return self._answer(body)

    def _global_error(self, text: str) -> bytes:
        root = etree.Element(self.shape.answer_root)
        etree.SubElement(root, self.shape.global_error).text = text
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def _answer(self, body: bytes) -> bytes:
        try:
            root = parse_untrusted_xml(body)
        except UntrustedXmlError:
            return self._global_error("XML-Fehler: die Anfrage ist kein gültiges XML")
        if root.tag != ENVELOPE.root or root.get(ENVELOPE.type_attr) != ENVELOPE.type_value:
            return self._global_error('Ungültige Anfrage: <api type="public"> erwartet')
        function = _child_text(root, ENVELOPE.function)
        name = _child_text(root, ENVELOPE.account_name)
        password_hash = _child_text(root, ENVELOPE.account_pass)
        password = self.accounts.get(name)
        if (
            password is None
            or password_hash != _md5_hex(password)
            or root.get(ENVELOPE.user_attr, name) != name
            or root.get(ENVELOPE.password_attr, password_hash) != password_hash
        ):
            return self._global_error("Login fehlgeschlagen: accountName oder accountPass falsch")
        if function != self.shape.function:
            return self._global_error(f"Unbekannte Funktion: {function or '(leer)'}")
        container = root.find(self.shape.orders)
        orders = [] if container is None else container.findall(self.shape.order)
        if not orders:
            return self._global_error("Keine Bestellungen übergeben")
        if len(orders) > self.shape.max_orders_per_request:
            return self._global_error(
                f"Zu viele Bestellungen: höchstens {self.shape.max_orders_per_request} je Anfrage"
            )
        answers = [self._update(name, order) for order in orders]
        return self._orders_answer(answers)

    def _update(self, account_name: str, element: etree._Element) -> _OrderAnswer:
        shape = self.shape
        order_id = _child_text(element, shape.order_id)
        order = self.orders.get(order_id)
        if order is None or order.account_name != account_name:
            return _OrderAnswer(order_id, "failed", f"Bestellung {order_id} nicht gefunden")
        action = _child_text(element, shape.status_action)
        if action != shape.status_action_shipped:
            return _OrderAnswer(order_id, "failed", f"Unbekannte statusAction: {action}")
        if order.status == "cancelled":
            return _OrderAnswer(order_id, "failed", f"Bestellung {order_id} ist storniert")
        tracking = _child_text(element, shape.tracking_code)
        if not tracking:
            return _OrderAnswer(order_id, "failed", "trackingCode fehlt")
        order.status = "shipped"
        if tracking not in order.tracking_codes:  # a repeated request adds nothing
            order.tracking_codes.append(tracking)
            order.carriers.append(_child_text(element, shape.carrier))
        return _OrderAnswer(order_id, "success")

    def _orders_answer(self, answers: list[_OrderAnswer]) -> bytes:
        shape = self.shape
        root = etree.Element(shape.answer_root)
        container = etree.SubElement(root, shape.answer_orders)
        for answer in answers:
            order = etree.SubElement(container, shape.answer_order)
            etree.SubElement(order, shape.answer_order_id).text = answer.order_id
            etree.SubElement(order, shape.answer_status).text = answer.status
            if answer.message:
                etree.SubElement(order, shape.answer_message).text = answer.message
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def create_app(
    accounts: dict[str, str],
    *,
    orders: Iterable[HoodOrder] = (),
    shape: OrderStatusShape = UNVERIFIED_ORDER_STATUS_SHAPE,
) -> Starlette:
    """The ASGI app; its simulator (state, seeding, faults) is `simulator_of(app)`."""
    simulator = HoodSimulator(accounts, orders, shape=shape)
    app = Starlette(routes=[Route(API_PATH, simulator.endpoint, methods=["POST"])])
    app.state.simulator = simulator
    return app


def simulator_of(app: Starlette) -> HoodSimulator:
    simulator: HoodSimulator = app.state.simulator
    return simulator
