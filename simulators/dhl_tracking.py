"""A local stand-in for DHL Parcel DE Tracking (`d-get-piece-detail`), faithful to DHL's
documentation (developer.dhl.com, "DHL Parcel DE Tracking (Post & Parcel Germany)"):
`GET /parcel/de/tracking/v0/shipments?xml=<data …/>` with the `DHL-API-Key` header and Basic
key:secret, the business user's `appname`/`password` in the XML, up to 15 `;`-separated piece
codes, the answer as a `piece-shipment-list` with each piece's events; 429 when the key's daily
quota (Starter: 250 calls) is spent.

Where DHL's documentation is silent the choices are marked: the error code and text of a
request with more than 15 numbers (code 2, like any request DHL cannot read), the
`error-status` 100 of an unknown number.

Knobs on `state_of(app)`: `add_piece(number, events)`, `scan(number, ice, …)`, `deliver(number)`,
`fail_next(n, status, retry_after)`, `daily_quota`, and the counters `calls` (every call that
reached the API, refused ones included) and `pieces_asked`.
"""

from __future__ import annotations

import base64
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import Response
from lxml import etree

from connectors.xml import UntrustedXmlError, parse_untrusted_xml

TRACKING_PATH = "/parcel/de/tracking/v0"
API_KEY_HEADER = "dhl-api-key"
MAX_PIECES = 15
STARTER_DAILY_QUOTA = 250
BERLIN = ZoneInfo("Europe/Berlin")

# (ice, ric, standard-event-code, text) of the usual life of a DHL parcel
ANNOUNCED = ("SHRCU", "NRQRD", "", "Die Auftragsdaten zu dieser Sendung wurden vom Absender elektronisch an DHL übermittelt.")  # fmt: skip  # noqa: E501
PICKED_UP = ("PCKDU", "PUBCR", "", "Die Sendung wurde vom Absender in der Filiale eingeliefert.")
SORTED = ("SRTED", "NRQRD", "", "Die Sendung wurde im Start-Paketzentrum bearbeitet.")
OUT_FOR_DELIVERY = ("OUTDL", "NRQRD", "", "Die Sendung wurde in das Zustellfahrzeug geladen.")
NOT_DELIVERED = ("NTDEL", "NRCNA", "", "Der Empfänger wurde nicht angetroffen.")
DELIVERED = ("DLVRD", "OTHER", "ZU", "Die Sendung wurde erfolgreich zugestellt.")
RETURNED = ("DLVRD", "OTHER", "ZU", "Die Sendung wurde an den Absender zurückgeliefert.")


@dataclass
class PieceEvent:
    at: datetime
    ice: str
    ric: str
    standard_code: str
    text: str
    location: str = "Bonn"


@dataclass
class Piece:
    number: str
    events: list[PieceEvent] = field(default_factory=list)
    returning: bool = False


@dataclass
class DhlTrackingState:
    api_key: str
    api_secret: str
    appname: str
    password: str
    daily_quota: int = STARTER_DAILY_QUOTA
    pieces: dict[str, Piece] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)  # UTC day -> calls counted on the key
    faults: deque[tuple[int, float | None]] = field(default_factory=deque)
    calls: int = 0
    pieces_asked: list[list[str]] = field(default_factory=list)

    def add_piece(self, number: str) -> Piece:
        return self.pieces.setdefault(number, Piece(number))

    def scan(
        self, number: str, event: tuple[str, str, str, str], at: datetime | None = None
    ) -> None:
        piece = self.add_piece(number)
        when = at or datetime.now(UTC).replace(second=0, microsecond=0)
        if piece.events and when <= piece.events[-1].at:
            when = piece.events[-1].at + timedelta(minutes=1)
        piece.events.append(PieceEvent(when, *event))

    def on_the_way(self, number: str) -> None:
        for event in (ANNOUNCED, PICKED_UP, SORTED):
            self.scan(number, event)

    def deliver(self, number: str) -> None:
        if not self.add_piece(number).events:
            self.on_the_way(number)
        self.scan(number, OUT_FOR_DELIVERY)
        self.scan(number, DELIVERED)

    def fail_next(self, count: int, status: int = 429, retry_after: float | None = None) -> None:
        self.faults.extend((status, retry_after) for _ in range(count))

    def calls_today(self) -> int:
        return self.used.get(datetime.now(UTC).date().isoformat(), 0)


def state_of(app: FastAPI) -> DhlTrackingState:
    state = app.state.dhl_tracking
    assert isinstance(state, DhlTrackingState)
    return state


def _stamp(at: datetime) -> str:
    return at.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")


def _list(code: int, text: str = "") -> etree._Element:
    root = etree.Element("data", name="piece-shipment-list", code=str(code))
    root.set("request-id", secrets.token_hex(8))
    if text:
        root.set("error", text)
    return root


def _piece_element(parent: etree._Element, number: str, piece: Piece | None) -> None:
    element = etree.SubElement(parent, "data", name="piece-shipment")
    element.set("piece-code", number)
    if piece is None or not piece.events:
        element.set("error-status", "100")
        element.set("status", "Es liegen keine Informationen zu dieser Sendung vor.")
        return
    last = piece.events[-1]
    delivered = last.ice == "DLVRD"
    element.set("error-status", "0")
    element.set("status", last.text)
    element.set("short-status", last.text[:40])
    element.set("status-timestamp", _stamp(last.at))
    element.set("ice", last.ice)
    element.set("ric", last.ric)
    element.set("delivery-event-flag", "1" if delivered else "0")
    element.set("ruecksendung", "true" if piece.returning else "false")
    events = etree.SubElement(element, "data", name="piece-event-list")
    events.set("piece-code", number)
    for event in piece.events:
        item = etree.SubElement(events, "data", name="piece-event")
        item.set("event-timestamp", _stamp(event.at))
        item.set("event-status", event.text)
        item.set("event-text", event.text)
        item.set("event-short-status", event.text[:40])
        item.set("ice", event.ice)
        item.set("ric", event.ric)
        item.set("event-location", event.location)
        item.set("event-country", "Deutschland")
        item.set("standard-event-code", event.standard_code)
        item.set("ruecksendung", "true" if piece.returning else "false")


def _xml(
    root: etree._Element, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, status_code=status, media_type="application/xml", headers=headers)


def _authorized(state: DhlTrackingState, request: Request) -> bool:
    if request.headers.get(API_KEY_HEADER) != state.api_key:
        return False
    expected = base64.b64encode(f"{state.api_key}:{state.api_secret}".encode()).decode()
    return secrets.compare_digest(request.headers.get("authorization", ""), f"Basic {expected}")


def create_app(
    *,
    api_key: str = "sim-dhl-tracking-key",
    api_secret: str = "sim-dhl-tracking-secret",  # noqa: S107 - the simulator's own test value
    appname: str = "zt12345",
    password: str = "sim-dhl-tracking-password",  # noqa: S107 - the simulator's own test value
    daily_quota: int = STARTER_DAILY_QUOTA,
) -> FastAPI:
    state = DhlTrackingState(api_key, api_secret, appname, password, daily_quota)
    app = FastAPI(title="DHL Parcel DE Tracking (simulator)", openapi_url=None, docs_url=None)
    app.state.dhl_tracking = state

    @app.get(f"{TRACKING_PATH}/shipments")
    async def shipments(request: Request) -> Response:
        state.calls += 1
        if not _authorized(state, request):
            return Response(status_code=401)
        day = datetime.now(UTC).date().isoformat()
        if state.used.get(day, 0) >= state.daily_quota:
            return Response(status_code=429, headers={"Retry-After": "3600"})
        state.used[day] = state.used.get(day, 0) + 1
        if state.faults:
            status, wait = state.faults.popleft()
            headers = {"Retry-After": str(int(wait))} if wait is not None else None
            return Response(status_code=status, headers=headers)
        try:
            data = parse_untrusted_xml(request.query_params.get("xml", "").encode())
        except UntrustedXmlError:
            return _xml(_list(2, "request not readable"))
        if data.get("appname") != state.appname or data.get("password") != state.password:
            return _xml(_list(3, "login failed"))
        if data.get("request") != "d-get-piece-detail":
            return _xml(_list(2, "unknown request"))
        numbers = [n for n in (data.get("piece-code") or "").split(";") if n]
        if not 1 <= len(numbers) <= MAX_PIECES:
            return _xml(_list(2, f"1 to {MAX_PIECES} piece codes"))
        state.pieces_asked.append(numbers)
        root = _list(0)
        for number in numbers:
            _piece_element(root, number, state.pieces.get(number))
        return _xml(root)

    return app
