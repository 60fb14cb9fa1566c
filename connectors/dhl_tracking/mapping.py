"""DHL Parcel DE Tracking, pure: the request XML, the answer, DHL's codes onto our statuses.

Facts (developer.dhl.com, "DHL Parcel DE Tracking (Post & Parcel Germany)" v1.0.0, User Guide
and Reference Docs; the request parameters as DHL's Sendungsverfolgung documentation names them):

- `GET https://api-eu.dhl.com/parcel/de/tracking/v0/shipments?xml=<data …/>`, the request as one
  `data` element whose attributes say what to do: `request="d-get-piece-detail"` (status plus
  event history), `appname`/`password` (business-customer user), `language-code` (de/en),
  `piece-code` with up to 15 numbers separated by `;` (only one when `zip-code` is given).
- The answer: `<data name="piece-shipment-list" code="0">` with one
  `<data name="piece-shipment" piece-code=… error-status=… status=… short-status=…
  delivery-event-flag="1|0" ice=… ric=… ruecksendung=…>` per number, and inside it
  `<data name="piece-event-list">` of `<data name="piece-event" event-timestamp="dd.MM.yyyy HH:mm"
  event-status=… event-text=… ice=… ric=… standard-event-code=… event-location=…>`.
  Times are German local time. A number DHL does not know comes back with `error-status` ≠ 0.
- The event codes: `ice` (DHL's "Internal Code for Events"), `ric` (reason), and the
  `standard-event-code` (`ZU` = Zustellung, with ice `DLVRD` in DHL's own example answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

from connectors.xml import parse_untrusted_xml
from core.tracking import DeliveryStatus, ParcelReport, TrackedEvent

PRODUCTION = "https://api-eu.dhl.com/parcel/de/tracking/v0"
SHIPMENTS_PATH = "/shipments"
REQUEST_DETAIL = "d-get-piece-detail"
MAX_PIECES_PER_CALL = 15  # piece-code: up to 15 numbers, `;`-separated
# developer.dhl.com, "Rate limits" of the DHL APIs: Starter 1 call/s and 250 calls/day per key
# (Standard: 2/s, 1000/day); the day ends at 24:00 GMT (DHL's API support knowledge base)
DEFAULT_DAILY_QUOTA = 250
BERLIN = ZoneInfo("Europe/Berlin")

# DHL's ice codes onto our statuses. DLVRD (delivered) and the standard code ZU are in DHL's own
# example answer; the other ice codes follow DHL's event code list as integrators quote it and
# are marked as such in docs; an unknown code reads as in_transit (a scan happened).
ICE_STATUS: dict[str, DeliveryStatus] = {
    "DLVRD": DeliveryStatus.DELIVERED,
    "SHRCU": DeliveryStatus.ANNOUNCED,  # shipment data received from the customer
    "PCKDU": DeliveryStatus.IN_TRANSIT,  # picked up
    "LDTMV": DeliveryStatus.IN_TRANSIT,  # loaded onto a vehicle
    "ULFMV": DeliveryStatus.IN_TRANSIT,  # unloaded
    "SRTED": DeliveryStatus.IN_TRANSIT,  # sorted
    "ARRVD": DeliveryStatus.IN_TRANSIT,  # arrived at a facility
    "PCKST": DeliveryStatus.IN_TRANSIT,  # handed in at a parcel shop
    "OUTDL": DeliveryStatus.OUT_FOR_DELIVERY,  # on the delivery vehicle
    "NTDEL": DeliveryStatus.EXCEPTION,  # not delivered this time
    "HLDCC": DeliveryStatus.EXCEPTION,  # held (e.g. customs)
    "DMGED": DeliveryStatus.EXCEPTION,  # damaged
    "RETRN": DeliveryStatus.RETURNED,  # back at the sender
    "RTNTS": DeliveryStatus.UNDELIVERABLE,  # on its way back to the sender
    "LOSTD": DeliveryStatus.LOST,
}
STANDARD_EVENT_STATUS: dict[str, DeliveryStatus] = {"ZU": DeliveryStatus.DELIVERED}


class MalformedAnswer(ValueError):
    pass


def chunks(numbers: Sequence[str], size: int = MAX_PIECES_PER_CALL) -> list[list[str]]:
    return [list(numbers[i : i + size]) for i in range(0, len(numbers), size)]


def request_xml(numbers: Sequence[str], *, appname: str, password: str, language: str) -> str:
    """The `xml` query parameter of one call (built with lxml, so every value is escaped)."""
    if not 1 <= len(numbers) <= MAX_PIECES_PER_CALL:
        raise ValueError(f"DHL takes 1 to {MAX_PIECES_PER_CALL} piece codes per call")
    element = etree.Element("data")
    element.set("appname", appname)
    element.set("password", password)
    element.set("request", REQUEST_DETAIL)
    element.set("language-code", language)
    element.set("piece-code", ";".join(numbers))
    body = etree.tostring(element, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8" standalone="no"?>{body}'


def parse_timestamp(text: str) -> datetime:
    """`18.03.2016 10:02` (German local time) as an aware UTC time."""
    try:
        local = datetime.strptime(text.strip(), "%d.%m.%Y %H:%M")
    except ValueError as error:
        raise MalformedAnswer(f"DHL timestamp {text!r} is not dd.MM.yyyy HH:mm") from error
    return local.replace(tzinfo=BERLIN).astimezone(ZoneInfo("UTC"))


def event_status(ice: str, standard_code: str, *, returning: bool) -> DeliveryStatus:
    if standard_code in STANDARD_EVENT_STATUS:
        return STANDARD_EVENT_STATUS[standard_code]
    status = ICE_STATUS.get(ice, DeliveryStatus.IN_TRANSIT)
    if returning and status is DeliveryStatus.DELIVERED:
        return DeliveryStatus.RETURNED  # delivered back to the sender
    return status


def _event(element: etree._Element, *, returning: bool) -> TrackedEvent:
    ice = element.get("ice") or ""
    standard = element.get("standard-event-code") or ""
    text = element.get("event-text") or element.get("event-status") or ""
    location = ", ".join(
        p for p in (element.get("event-location"), element.get("event-country")) if p
    )
    return TrackedEvent(
        at=parse_timestamp(element.get("event-timestamp") or ""),
        status=event_status(ice, standard, returning=returning),
        code="/".join(c for c in (ice, element.get("ric") or "", standard) if c) or "-",
        text=text,
        location=location or None,
    )


def parse_answer(data: bytes) -> list[ParcelReport]:
    """One report per `piece-shipment`; a number DHL does not know has status None."""
    root = parse_untrusted_xml(data)
    if root.tag != "data" or root.get("name") != "piece-shipment-list":
        raise MalformedAnswer(f"expected piece-shipment-list, got {root.get('name')!r}")
    reports = []
    for shipment in root.iterfind("data[@name='piece-shipment']"):
        number = shipment.get("piece-code") or shipment.get("searched-piece-code") or ""
        if (shipment.get("error-status") or "0") != "0":
            reports.append(ParcelReport(number, None, text=shipment.get("status") or ""))
            continue
        returning = (shipment.get("ruecksendung") or "").lower() == "true"
        events = [
            _event(e, returning=returning)
            for e in shipment.iterfind("data[@name='piece-event-list']/data[@name='piece-event']")
        ]
        status = _shipment_status(shipment, events, returning=returning)
        reports.append(
            ParcelReport(
                number,
                status,
                text=shipment.get("status") or shipment.get("short-status") or "",
                events=tuple(events),
            )
        )
    return reports


def _shipment_status(
    shipment: etree._Element, events: Sequence[TrackedEvent], *, returning: bool
) -> DeliveryStatus:
    if shipment.get("delivery-event-flag") == "1":
        return DeliveryStatus.RETURNED if returning else DeliveryStatus.DELIVERED
    ice = shipment.get("ice") or ""
    if ice:
        return event_status(ice, shipment.get("standard-event-code") or "", returning=returning)
    if events:
        return max(events, key=lambda e: e.at).status
    return DeliveryStatus.ANNOUNCED
