"""A local stand-in for Rakuten.de's Shop-API methods `orders/setOrderShipped` and
`orders/getOrders`, in memory.

Follows the documented method page: parameters `key`, `order_no` (XXX-XXX-XXX), `dhl`,
`carrier` (one of the listed values, needs a tracking number or URL), `tracking_number`
(letters and digits), `tracking_url`; answers `<result><success>1</success></result>` or
`success` -1 with the documented codes 3705, 3710, 3715, 3716, 4702, 4703 and the generic 40
(missing parameter). A wrong key answers one of `ASSUMED_AUTH_ERROR_CODES` (not documented).

Orders are seeded with a status; only `editable` ones can be marked shipped (3710 otherwise).
`getOrders` lists orders as the documented sample answer does (`orders/paging`, then one
`order` per order with `order_no`, `status`, `created`, ...; no tracking number), filtered by
`search_field` + `search` and `status`, paged by `page` / `per_page` (20, at most 100).
Faults: the next N calls answer 5xx, the next N answers are cut off, the next N come late.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.knobs import XmlFaults

# Rakuten's documented facts as this simulator knows them, written down here and not taken from
# the connector, so that the connector's tables are tested rather than trusted. Sources: the
# documentation pages named in ../shared/specs/rakuten/README.md (set_order_shipped, howto/error).
SET_ORDER_SHIPPED = "orders/setOrderShipped"
GET_ORDERS = "orders/getOrders"
RAKUTEN_CARRIERS = frozenset({
    "DHL", "Deutsche Post (Einschreiben)", "DHL Rahmenvertrag", "Post", "Post.at", "UPS", "DPD",
    "GLS", "Hermes", "Hermes-Connect", "Digital", "Spedition", "Tracking-Link",
})  # fmt: skip
DOCUMENTED_ERRORS = dict([
    ("3705", "Die Bestellung konnte nicht gefunden werden"),
    ("3710", "Die Bestellung befindet sich nicht im Bearbeitungs-Modus"),
    ("3715", "Die Bestellung besitzt kein DHL-Versand-Etikett"),
    ("3716", "Die Tracking-Informationen wurden nicht korrekt übergeben."),
    ("4702", "Carrier stimmt nicht mit den verfügbaren Werten überein."),
    ("4703", "Tracking Nummer hat falsches Format."),
])  # fmt: skip
MISSING_PARAMETER = "40"  # the generic error of the documented error sample
ASSUMED_AUTH_ERROR_CODES = frozenset({"10"})  # not documented: an unknown or revoked key
ORDER_NO = re.compile(r"[A-Za-z0-9]{3}-[A-Za-z0-9]{3}-[A-Za-z0-9]{3}")
TRACKING_NUMBER = re.compile(r"[A-Za-z0-9]+")  # "Zeichen und Ziffern"

PATH = "/merchants/" + SET_ORDER_SHIPPED
ORDERS_PATH = "/merchants/" + GET_ORDERS
SEARCH_FIELDS = ("order_no", "invoice_no", "first_name", "last_name", "company", "city", "email")
BASE_PATH = "/merchants/"
AUTH_CODE = sorted(ASSUMED_AUTH_ERROR_CODES)[0]
XML_TYPE = "application/xml; charset=utf-8"


@dataclass(frozen=True, slots=True)
class RakutenShipment:
    carrier: str
    tracking_number: str
    tracking_url: str


@dataclass
class RakutenOrder:
    order_no: str
    status: str = "editable"  # pending | editable | shipped | payout | cancelled
    shipments: list[RakutenShipment] = field(default_factory=list)


class _Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _documented(code: str) -> _Refusal:
    return _Refusal(code, DOCUMENTED_ERRORS[code])


async def _params(request: Request) -> dict[str, str]:
    """The call's parameters: the form body of a POST, the query of a GET."""
    raw = (await request.body()).decode("utf-8", "replace")
    if request.method == "GET":
        raw = request.url.query
    return dict(parse_qsl(raw, keep_blank_values=True))


class RakutenSimulator(XmlFaults):
    def __init__(self, key: str, orders: Iterable[RakutenOrder] = ()) -> None:
        super().__init__()
        self.key = key
        self.orders: dict[str, RakutenOrder] = {order.order_no: order for order in orders}
        self.order_reads = 0  # getOrders calls

    async def endpoint(self, request: Request) -> Response:
        return await self.respond(request, self._answer_request, XML_TYPE)

    async def _answer_request(self, request: Request) -> bytes:
        params = await _params(request)
        with self._lock:
            return self._answer(params)

    async def orders_endpoint(self, request: Request) -> Response:
        params = await _params(request)
        with self._lock:
            self.order_reads += 1
        failure = self.failure()
        if failure is not None:
            return failure
        with self._lock:
            try:
                answer = self._get_orders(params)
            except _Refusal as refusal:
                answer = _error_xml(refusal)
        return Response(answer, media_type=XML_TYPE)

    def seed(self, order_no: str, status: str = "editable") -> RakutenOrder:
        order = RakutenOrder(order_no=order_no, status=status)
        with self._lock:
            self.orders[order_no] = order
        return order

    def _get_orders(self, params: Mapping[str, str]) -> bytes:
        if not params.get("key"):
            raise _Refusal(
                MISSING_PARAMETER, 'Der benötigte Parameter "key" konnte nicht gefunden werden'
            )
        if params["key"] != self.key:
            raise _Refusal(AUTH_CODE, "Der Authentifizierungs-Schlüssel ist ungültig")
        orders = list(self.orders.values())
        field_name, text = params.get("search_field", ""), params.get("search", "")
        if field_name == "order_no" and text:
            orders = [o for o in orders if o.order_no == text]
        elif field_name in SEARCH_FIELDS and text:
            orders = []  # the simulator keeps no buyers or invoices
        if params.get("status"):
            orders = [o for o in orders if o.status == params["status"]]
        per_page = int(params["per_page"]) if params.get("per_page", "").isdigit() else 20
        per_page = per_page if 0 < per_page <= 100 else 20
        page = int(params["page"]) if params.get("page", "").isdigit() else 1
        page = max(page, 1)
        shown = orders[(page - 1) * per_page : page * per_page]
        return _orders_xml(shown, total=len(orders), page=page, per_page=per_page)

    def _answer(self, params: Mapping[str, str]) -> bytes:
        try:
            self._set_order_shipped(params)
        except _Refusal as refusal:
            return _error_xml(refusal)
        return _success_xml()

    def _set_order_shipped(self, params: Mapping[str, str]) -> None:
        for required in ("key", "order_no"):
            if not params.get(required):
                raise _Refusal(
                    MISSING_PARAMETER,
                    f'Der benötigte Parameter "{required}" konnte nicht gefunden werden',
                )
        if params["key"] != self.key:
            raise _Refusal(AUTH_CODE, "Der Authentifizierungs-Schlüssel ist ungültig")
        order = self.orders.get(params["order_no"])
        if not ORDER_NO.fullmatch(params["order_no"]) or order is None:
            raise _documented("3705")
        if order.status != "editable":
            raise _documented("3710")
        if params.get("dhl", "0") not in ("", "0"):
            raise _documented("3715")  # the simulator keeps no DHL labels
        carrier = params.get("carrier", "")
        number = params.get("tracking_number", "")
        url = params.get("tracking_url", "")
        if (number or url) and carrier not in RAKUTEN_CARRIERS:
            raise _documented("4702")
        if carrier and not (number or url):
            raise _documented("3716")
        if url and urlsplit(url).scheme not in ("http", "https"):
            raise _documented("3716")
        if number and not TRACKING_NUMBER.fullmatch(number):
            raise _documented("4703")
        order.status = "shipped"
        if carrier:
            order.shipments.append(RakutenShipment(carrier, number, url))


def _success_xml() -> bytes:
    root = etree.Element("result")
    etree.SubElement(root, "success").text = "1"
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _orders_xml(orders: list[RakutenOrder], *, total: int, page: int, per_page: int) -> bytes:
    """getOrders' answer in the shape of the documented sample (values are placeholders)."""
    root = etree.Element("result")
    etree.SubElement(root, "success").text = "1"
    listed = etree.SubElement(root, "orders")
    paging = etree.SubElement(listed, "paging")
    pages = max(1, -(-total // per_page))
    for name, count in (("total", total), ("page", page), ("pages", pages), ("per_page", per_page)):
        etree.SubElement(paging, name).text = str(count)
    for order in orders:
        element = etree.SubElement(listed, "order")
        for name, value in (
            ("order_no", order.order_no),
            ("total", "0.00"),
            ("shipping", "0.00"),
            ("max_shipping_date", "2020-10-14 20:15:00"),
            ("payment", "PAL"),
            ("status", order.status),
            ("invoice_no", ""),
            ("created", "2020-10-01 09:00:00"),
        ):
            etree.SubElement(element, name).text = value
        etree.SubElement(element, "items")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _error_xml(refusal: _Refusal) -> bytes:
    root = etree.Element("result")
    etree.SubElement(root, "success").text = "-1"
    error = etree.SubElement(etree.SubElement(root, "errors"), "error")
    etree.SubElement(error, "code").text = refusal.code
    etree.SubElement(error, "message").text = refusal.message
    etree.SubElement(error, "help").text = "http://webservice.rakuten.de/documentation/howto/error"
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def create_app(key: str, *, orders: Iterable[RakutenOrder] = ()) -> Starlette:
    """The ASGI app; its simulator (orders, faults) is `simulator_of(app)`.

    Point the connector at `<served url>/merchants/`."""
    simulator = RakutenSimulator(key, orders)
    app = Starlette(
        routes=[
            Route(PATH, simulator.endpoint, methods=["GET", "POST"]),
            Route(ORDERS_PATH, simulator.orders_endpoint, methods=["GET", "POST"]),
        ]
    )
    app.state.simulator = simulator
    return app


def simulator_of(app: Starlette) -> RakutenSimulator:
    simulator: RakutenSimulator = app.state.simulator
    return simulator
