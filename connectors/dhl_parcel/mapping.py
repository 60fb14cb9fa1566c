"""DHL Parcel DE Shipping v2, daily closing: request bodies in, parsed answers out.

Pure on purpose (no httpx, no database): every rule about what DHL sends and expects lives here
and is tested from recorded and spec-derived fixture files alone.

The facts below come from DHL's OpenAPI description (Parcel DE Shipping API 2.1.13):
`POST /manifests` closes at most 30 shipments per call (or all with `?all=true`) and answers
207 with one status per shipment; `GET /manifests` returns the day's manifest as base64 PDF.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

# --- vendor facts (one place) -------------------------------------------------------------------

PRODUCTION = "https://api-eu.dhl.com/parcel/de/shipping/v2"
SANDBOX = "https://api-sandbox.dhl.com/parcel/de/shipping/v2"
SHIPPING_PATH = "/parcel/de/shipping/v2"  # the path prefix both servers share
TOKEN_PATH = "/parcel/de/account/auth/ropc/v1/token"  # noqa: S105 - a path, same host
SERVERS = {"production": PRODUCTION, "sandbox": SANDBOX}


def server_url(value: str | None) -> str:
    """`production` (default), `sandbox`, or an http(s) URL ending in DHL's path (simulators)."""
    text = (value or "").strip()
    if not text:
        return PRODUCTION
    if text.lower() in SERVERS:
        return SERVERS[text.lower()]
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"DHL base URL {text!r} is neither production, sandbox nor an http(s) URL "
            "(LIEFERN_DHL_BASE_URL or base_url under [carriers.dhl] in the accounts file)"
        )
    return text.rstrip("/")


API_KEY_HEADER = "dhl-api-key"
ACCEPT_LANGUAGE = "de-DE"  # German titles and details in DHL's answers
DEFAULT_PROFILE = "STANDARD_GRUPPENPROFIL"  # the user group profile every account has
MAX_SHIPMENTS_PER_MANIFEST = 30  # ShipmentManifestingRequest.shipmentNumbers maxItems
MAX_PROFILE_LENGTH = 35

ManifestStatus = Literal["closed", "already_closed", "error"]

# DHL's spec says a second closing of a shipment (or one after the automatic end-of-day closing)
# "will result in a warning" but does not spell out its shape. A warning is recognised by a 2xx
# status whose title is not a plain OK, or by these words in its title (de/en answers).
_OK_TITLES = frozenset({"ok", ""})
_WARNING_MARKERS = ("warn", "hinweis", "already", "bereits")


class MalformedResponse(ValueError):
    """DHL answered something that does not fit its own spec."""


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManifestItem:
    """What DHL said about closing one shipment."""

    shipment_no: str
    status: ManifestStatus
    title: str = ""
    detail: str = ""
    status_code: int | None = None


@dataclass(frozen=True, slots=True)
class ManifestResult:
    """One item per shipment DHL reported on, across all chunked calls."""

    items: list[ManifestItem] = field(default_factory=list)

    @property
    def closed(self) -> list[ManifestItem]:
        return [item for item in self.items if item.status == "closed"]

    @property
    def warnings(self) -> list[ManifestItem]:
        return [item for item in self.items if item.status == "already_closed"]

    @property
    def errors(self) -> list[ManifestItem]:
        return [item for item in self.items if item.status == "error"]

    @property
    def ok(self) -> bool:
        """True when every shipment is closed now (already closed counts: it ships today)."""
        return not self.errors


@dataclass(frozen=True, slots=True)
class ManifestSheet:
    """DHL's mapping of a billing number to its sheet of the day's manifest."""

    billing_number: str
    sheet_no: str


@dataclass(frozen=True, slots=True)
class ManifestedShipment:
    """A shipment listed on the day's manifest, with the sheet it is printed on."""

    shipment_no: str
    sheet_no: str
    title: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ManifestDocument:
    """The day's manifest: the PDF to print plus DHL's sheet and shipment mappings.

    `pdf` is the first document DHL returned (empty when it returned none); further documents,
    which DHL may send per billing number, are kept in `extra_pdfs` rather than dropped."""

    manifest_date: date
    pdf: bytes
    sheets: list[ManifestSheet] = field(default_factory=list)
    items: list[ManifestedShipment] = field(default_factory=list)
    extra_pdfs: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Problem:
    """DHL's error envelope (RequestStatus, or LabelDataResponse around it) flattened."""

    status_code: int | None
    title: str
    detail: str

    def message(self, fallback: str) -> str:
        return self.detail or self.title or fallback


# --- requests -----------------------------------------------------------------------------------


def chunk_shipment_numbers(
    numbers: Sequence[str], size: int = MAX_SHIPMENTS_PER_MANIFEST
) -> list[list[str]]:
    """Split into DHL-sized calls; blanks and repeats are dropped (order kept).

    A repeat inside one call would only earn a warning from DHL and a confusing double line in
    the operator's protocol."""
    unique = list(dict.fromkeys(n.strip() for n in numbers if n and n.strip()))
    return [unique[start : start + size] for start in range(0, len(unique), size)]


def manifest_request_body(
    shipment_numbers: Sequence[str] | None,
    *,
    profile: str = DEFAULT_PROFILE,
    billing_number: str | None = None,
) -> dict[str, Any]:
    """`ShipmentManifestingRequest`: profile is mandatory, the numbers 1..30 when present."""
    if not profile or len(profile) > MAX_PROFILE_LENGTH:
        raise ValueError(f"profile must be 1..{MAX_PROFILE_LENGTH} characters")
    body: dict[str, Any] = {"profile": profile}
    if shipment_numbers is not None:
        if not 1 <= len(shipment_numbers) <= MAX_SHIPMENTS_PER_MANIFEST:
            raise ValueError(f"1..{MAX_SHIPMENTS_PER_MANIFEST} shipment numbers per call")
        body["shipmentNumbers"] = list(shipment_numbers)
    if billing_number:
        body["billingNumber"] = billing_number
    return body


def manifest_query(day: date, *, billing_number: str | None = None) -> dict[str, str]:
    """Query of `GET /manifests`: the PDF inline (base64), not as a download URL."""
    query = {"date": day.isoformat(), "includeDocs": "include"}
    if billing_number:
        query["billingNumber"] = billing_number
    return query


# --- answers ------------------------------------------------------------------------------------


def _status_code(status: Mapping[str, Any]) -> int | None:
    # `status` is current, `statusCode` deprecated but still required by the schema
    for key in ("status", "statusCode"):
        value = status.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def classify(sstatus: Mapping[str, Any]) -> ManifestStatus:
    """closed, already_closed (DHL's warning) or error, from one item's `sstatus`."""
    code = _status_code(sstatus)
    title = _text(sstatus.get("title")).lower()
    detail = _text(sstatus.get("detail")).lower()
    if code is not None and code >= 300:
        return "error"
    title_warns = any(marker in title for marker in _WARNING_MARKERS)
    if code is None and title != "ok" and not title_warns:
        return "error"  # no status code and no known title: nothing says it worked
    if title not in _OK_TITLES or title_warns:
        return "already_closed"
    if any(marker in detail for marker in _WARNING_MARKERS):
        return "already_closed"
    return "closed"


def _items(body: Mapping[str, Any], key: str = "items") -> Iterator[Mapping[str, Any]]:
    raw = body.get(key) or []
    if not isinstance(raw, list):
        raise MalformedResponse(f"`{key}` is not a list")
    for entry in raw:
        if not isinstance(entry, Mapping):
            raise MalformedResponse(f"an entry of `{key}` is not an object")
        yield entry


def _sstatus(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    sstatus = entry.get("sstatus")
    if not isinstance(sstatus, Mapping):
        raise MalformedResponse("an item has no `sstatus`")
    return sstatus


def parse_manifest_response(body: object) -> ManifestResult:
    """`MultipleManifestResponse` (the 207 answer of `POST /manifests`)."""
    if not isinstance(body, Mapping):
        raise MalformedResponse("answer is not a JSON object")
    items = []
    for entry in _items(body):
        sstatus = _sstatus(entry)
        items.append(
            ManifestItem(
                shipment_no=_text(entry.get("shipmentNo")),
                status=classify(sstatus),
                title=_text(sstatus.get("title")),
                detail=_text(sstatus.get("detail")),
                status_code=_status_code(sstatus),
            )
        )
    return ManifestResult(items=items)


def _decode_pdf(document: Mapping[str, Any]) -> bytes:
    b64 = document.get("b64")
    if not isinstance(b64, str) or not b64:
        raise MalformedResponse("manifest document carries no base64 data (`b64`)")
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as error:
        raise MalformedResponse("manifest document is not valid base64") from error


def parse_manifest_document(body: object, *, requested: date) -> ManifestDocument:
    """`SingleManifestResponse` (the 200 answer of `GET /manifests`)."""
    if not isinstance(body, Mapping):
        raise MalformedResponse("answer is not a JSON object")
    try:
        manifest_date = date.fromisoformat(_text(body.get("manifestDate"))[:10])
    except ValueError:
        manifest_date = requested
    pdfs = [_decode_pdf(document) for document in _items(body, "manifest")]
    sheets = [
        ManifestSheet(_text(entry.get("billingNumber")), _text(entry.get("sheetNo")))
        for entry in _items(body, "sheetNo")
    ]
    shipments = []
    for entry in _items(body, "items"):
        sstatus = entry.get("sstatus")
        sstatus = sstatus if isinstance(sstatus, Mapping) else {}
        shipments.append(
            ManifestedShipment(
                shipment_no=_text(entry.get("shipmentNo")),
                sheet_no=_text(entry.get("sheetNo")),
                title=_text(sstatus.get("title")),
                detail=_text(sstatus.get("detail")),
            )
        )
    return ManifestDocument(
        manifest_date=manifest_date,
        pdf=pdfs[0] if pdfs else b"",
        sheets=sheets,
        items=shipments,
        extra_pdfs=pdfs[1:],
    )


def parse_problem(body: object) -> Problem:
    """DHL's error answer: `RequestStatus` (401, 429, 5xx) or `LabelDataResponse` (400).

    For a 400 the per-item validation messages are folded into the detail, because they name
    the field DHL refused."""
    if not isinstance(body, Mapping):
        return Problem(None, "", "")
    status = body.get("status")
    envelope: Mapping[str, Any] = status if isinstance(status, Mapping) else body
    details = [_text(envelope.get("detail"))]
    raw_items = body.get("items")
    for entry in raw_items if isinstance(raw_items, list) else []:
        if not isinstance(entry, Mapping):
            continue
        sstatus = entry.get("sstatus")
        if isinstance(sstatus, Mapping):
            details.append(_text(sstatus.get("detail")))
        messages = entry.get("validationMessages")
        for message in messages if isinstance(messages, list) else []:
            if isinstance(message, Mapping):
                prop = _text(message.get("property"))
                text = _text(message.get("validationMessage"))
                details.append(f"{prop}: {text}" if prop else text)
    detail = "; ".join(dict.fromkeys(d for d in details if d))
    return Problem(_status_code(envelope), _text(envelope.get("title")), detail)
