"""A local stand-in for DHL Parcel DE Shipping v2 (manifests) and its OAuth token endpoint.

Faithful to DHL's OpenAPI description where it is explicit: the `dhl-api-key` header plus Basic
(business-portal user) or a Bearer token from the password grant at
`/parcel/de/account/auth/ropc/v1/token`; `POST /manifests` with `ShipmentManifestingRequest`
(profile required, 1..30 shipment numbers, or `?all=true`) answering 207
`MultipleManifestResponse`; `GET /manifests?date=` answering `SingleManifestResponse` with a real
PDF (base64), 400 for a future or too old date. Paths carry the real prefix
(`/parcel/de/shipping/v2`), so a client's base URL differs from production only in the host.

Where the spec is silent the choices are marked: the shape of the "already closed" warning
(2xx status, title "Warning"), the error status of an unknown number (404 in its `sstatus`),
how old a manifest may be (`max_age_days`).

Test knobs live on `state_of(app)`: `fail_next(n, status)` (500/429/...), `slow_next(n, s)`,
`revoke_tokens()`, `add_shipments(...)`, and the call log `manifest_calls`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fpdf import FPDF

from simulators.spec_check import check_requests

SPEC_FILE = "carriers/dhl/parcel-de-shipping-v2.yaml"
# DHL's facts as this simulator knows them (parcel-de-shipping-v2.yaml and DHL's developer
# portal), not taken from the connector, so that the connector's values are tested
SHIPPING_PATH = "/parcel/de/shipping/v2"
TOKEN_PATH = "/parcel/de/account/auth/ropc/v1/token"  # noqa: S105 - a path
API_KEY_HEADER = "dhl-api-key"
DEFAULT_PROFILE = "STANDARD_GRUPPENPROFIL"
MAX_SHIPMENTS_PER_MANIFEST = 30  # ShipmentManifestingRequest.shipmentNumbers maxItems
MAX_PROFILE_LENGTH = 35
DEFAULT_BILLING_NUMBER = "33333333330101"  # EKP 3333333333, procedure 01, participation 01
PROBLEM = "application/problem+json"

_TEXTS = {
    "de": {
        "ok": "Die Sendung wurde manifestiert.",
        "already": "Die Sendung wurde bereits manifestiert.",
        "unknown": "Die Sendungsnummer ist unbekannt.",
        "billing": "Die Sendung gehört nicht zur angegebenen Abrechnungsnummer.",
        "unauthorized": "Anmeldung fehlgeschlagen.",
        "api_key": "API-Schlüssel fehlt oder ist ungültig.",
        "future": "Das Datum liegt in der Zukunft.",
        "too_old": "Das Datum liegt zu weit in der Vergangenheit.",
        "date": "Das Datum muss im Format JJJJ-MM-TT angegeben werden.",
    },
    "en": {
        "ok": "Shipment has been manifested.",
        "already": "Shipment has already been manifested.",
        "unknown": "Unknown shipment number.",
        "billing": "Shipment does not belong to the given billing number.",
        "unauthorized": "Authentication failed.",
        "api_key": "API key missing or invalid.",
        "future": "The date lies in the future.",
        "too_old": "The date is too old.",
        "date": "The date must be given as YYYY-MM-DD.",
    },
}


@dataclass
class _Fault:
    status: int = 0  # 0: no error, just the delay
    retry_after: float | None = None
    delay: float = 0.0


@dataclass
class DhlParcelState:
    """What the simulated DHL account knows; tests read and steer it."""

    api_key: str
    users: dict[str, str]
    client_secret: str | None
    profiles: set[str]
    accept_any_number: bool
    today: Callable[[], date]
    max_age_days: int
    token_lifetime: float
    billing: dict[str, str] = field(default_factory=dict)  # shipment number -> billing number
    closed: dict[str, date] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> monotonic expiry
    documents: dict[str, bytes] = field(default_factory=dict)  # download token -> PDF
    faults: deque[_Fault] = field(default_factory=deque)
    manifest_calls: list[list[str] | None] = field(default_factory=list)  # None: all=true
    tokens_issued: int = 0
    requests: int = 0  # authenticated calls to the shipping API
    refused: int = 0  # calls turned away for their credentials

    def add_shipments(
        self, numbers: Iterable[str], billing_number: str = DEFAULT_BILLING_NUMBER
    ) -> None:
        for number in numbers:
            self.billing[number] = billing_number

    def close(self, numbers: Iterable[str], day: date | None = None) -> None:
        """Mark shipments closed as if an earlier call or DHL's end-of-day run did it."""
        for number in numbers:
            self.billing.setdefault(number, DEFAULT_BILLING_NUMBER)
            self.closed[number] = day or self.today()

    def fail_next(self, count: int, status: int = 500, retry_after: float | None = None) -> None:
        self.faults.extend(_Fault(status, retry_after) for _ in range(count))

    def slow_next(self, count: int, seconds: float) -> None:
        self.faults.extend(_Fault(delay=seconds) for _ in range(count))

    def revoke_tokens(self) -> None:
        self.tokens.clear()


def state_of(app: FastAPI) -> DhlParcelState:
    state = app.state.dhl
    assert isinstance(state, DhlParcelState)
    return state


def _status(title: str, code: int, detail: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"title": title, "statusCode": code, "status": code}
    if detail:
        status["detail"] = detail[:80]  # RequestStatus.detail maxLength 80
    return status


def _problem(code: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(_status(title, code, detail), code, headers=headers, media_type=PROBLEM)


def _bad_request(detail: str) -> Response:
    # 400 answers are LabelDataResponse: the RequestStatus wrapped in `status`
    body = {"status": _status("Bad Request", 400, detail)}
    return JSONResponse(body, 400, media_type=PROBLEM)


def _lang(request: Request) -> dict[str, str]:
    wanted = request.headers.get("accept-language", "").lower()
    return _TEXTS["de"] if wanted.startswith("de") else _TEXTS["en"]


def _authenticate(state: DhlParcelState, request: Request) -> Response | None:
    refused = _check_credentials(state, request)
    if refused is not None:
        state.refused += 1
    return refused


def _check_credentials(state: DhlParcelState, request: Request) -> Response | None:
    texts = _lang(request)
    if request.headers.get(API_KEY_HEADER) != state.api_key:
        return _problem(401, "Unauthorized", texts["api_key"])
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return _problem(401, "Unauthorized", texts["unauthorized"])
        if user in state.users and secrets.compare_digest(state.users[user], password):
            return None
    elif scheme.lower() == "bearer":
        expiry = state.tokens.get(value)
        if expiry is not None and time.monotonic() < expiry:
            return None
    return _problem(401, "Unauthorized", texts["unauthorized"])


async def _fault(state: DhlParcelState) -> Response | None:
    state.requests += 1
    if not state.faults:
        return None
    fault = state.faults.popleft()
    if fault.delay:
        await asyncio.sleep(fault.delay)
    if fault.status == 429:
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        return _problem(429, "Too Many Requests", "Rate limit exceeded", headers)
    if fault.status == 400:
        return _bad_request("Simulated refusal of this request.")
    if fault.status:
        return _problem(fault.status, "Internal Server Error", "Simulated failure")
    return None


def _validate_manifest_body(state: DhlParcelState, raw: bytes) -> dict[str, Any] | str:
    """The body as dict, or the reason it breaks ShipmentManifestingRequest."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return "Request body is not valid JSON."
    if not isinstance(body, dict):
        return "Request body must be a JSON object."
    profile = body.get("profile")
    if not isinstance(profile, str) or not profile or len(profile) > MAX_PROFILE_LENGTH:
        return "profile is required (1..35 characters)."
    if profile not in state.profiles:
        return f"Unknown user group profile {profile}."
    numbers = body.get("shipmentNumbers")
    if numbers is not None and (
        not isinstance(numbers, list)
        or not 1 <= len(numbers) <= MAX_SHIPMENTS_PER_MANIFEST
        or not all(isinstance(n, str) and n for n in numbers)
    ):
        return "shipmentNumbers must hold 1..30 shipment numbers."
    billing = body.get("billingNumber")
    if billing is not None and not isinstance(billing, str):
        return "billingNumber must be a string."
    return body


def _close_one(
    state: DhlParcelState, number: str, billing: str | None, texts: dict[str, str]
) -> dict[str, Any]:
    if number not in state.billing:
        if not state.accept_any_number:
            return {"shipmentNo": number, "sstatus": _status("Not Found", 404, texts["unknown"])}
        state.billing[number] = DEFAULT_BILLING_NUMBER
    if billing and state.billing[number] != billing:
        return {"shipmentNo": number, "sstatus": _status("Bad Request", 400, texts["billing"])}
    if number in state.closed:
        return {"shipmentNo": number, "sstatus": _status("Warning", 200, texts["already"])}
    state.closed[number] = state.today()
    return {"shipmentNo": number, "sstatus": _status("OK", 200, texts["ok"])}


def manifest_pdf(day: date, rows: list[tuple[str, str, str]]) -> bytes:
    """A small real PDF like DHL's: one line per shipment (number, billing number, sheet)."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, f"Tagesabschlussliste {day:%d.%m.%Y}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 7, f"Anzahl Sendungen: {len(rows)}", new_x="LMARGIN", new_y="NEXT")
    for number, billing, sheet in rows:
        pdf.cell(0, 6, f"{number}   {billing}   Blatt {sheet}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _manifest_body(
    state: DhlParcelState, day: date, billing: str | None, include: bool, request: Request
) -> dict[str, Any]:
    numbers = sorted(
        n
        for n, closed_on in state.closed.items()
        if closed_on == day and (billing is None or state.billing.get(n) == billing)
    )
    billings = sorted({state.billing[n] for n in numbers})
    sheets = {b: f"{day:%y%m%d}{index:03d}" for index, b in enumerate(billings, start=1)}
    rows = [(n, state.billing[n], sheets[state.billing[n]]) for n in numbers]
    pdf = manifest_pdf(day, rows)
    if include:
        document: dict[str, Any] = {"b64": base64.b64encode(pdf).decode("ascii")}
    else:
        token = secrets.token_urlsafe(16)
        state.documents[token] = pdf
        document = {"url": str(request.url_for("dhl_labels").include_query_params(token=token))}
    document.update(fileFormat="PDF", printFormat="A4")
    return {
        "status": _status("OK", 200),
        "manifestDate": day.isoformat(),
        "manifest": [document],
        "sheetNo": [{"billingNumber": b, "sheetNo": s} for b, s in sheets.items()],
        "items": [
            {"shipmentNo": n, "sheetNo": sheet, "sstatus": _status("OK", 200)}
            for n, _, sheet in rows
        ],
    }


def _shipping_router(state: DhlParcelState) -> APIRouter:
    router = APIRouter(prefix=SHIPPING_PATH)

    @router.get("/")
    async def root() -> dict[str, Any]:
        return {
            "amp": {"name": "pp-parcel-shipping-native", "env": "simulator", "version": "v2.1.13"},
            "backend": {"env": "simulator", "version": "v2.1.13"},
        }

    @router.post("/manifests")
    async def close_shipments(request: Request) -> Response:
        refused = _authenticate(state, request) or await _fault(state)
        if refused:
            return refused
        texts = _lang(request)
        close_all = request.query_params.get("all", "false").lower()
        if close_all not in ("true", "false"):
            return _bad_request("Query parameter all must be true or false.")
        body = _validate_manifest_body(state, await request.body())
        if isinstance(body, str):
            return _bad_request(body)
        billing = body.get("billingNumber")
        numbers: list[str] | None = body.get("shipmentNumbers")
        if numbers is None:
            if close_all != "true" and not billing:
                return _bad_request("Pass shipmentNumbers, a billingNumber or all=true.")
            numbers = [
                n
                for n, b in state.billing.items()
                if n not in state.closed and (not billing or b == billing)
            ]
            state.manifest_calls.append(None)
        else:
            state.manifest_calls.append(list(numbers))
        items = [_close_one(state, number, billing, texts) for number in numbers]
        answer = {"status": _status("Multistatus", 207), "items": items}
        return JSONResponse(answer, 207)

    @router.get("/manifests")
    async def manifest(request: Request) -> Response:
        refused = _authenticate(state, request) or await _fault(state)
        if refused:
            return refused
        texts = _lang(request)
        include = request.query_params.get("includeDocs", "include")
        if include not in ("include", "URL"):
            return _bad_request("includeDocs must be include or URL.")
        raw_date = request.query_params.get("date")
        today = state.today()
        try:
            day = date.fromisoformat(raw_date) if raw_date else today
        except ValueError:
            return _bad_request(texts["date"])
        if raw_date and len(raw_date) != 10:
            return _bad_request(texts["date"])
        if day > today:
            return _bad_request(texts["future"])
        if day < today - timedelta(days=state.max_age_days):
            return _bad_request(texts["too_old"])
        billing = request.query_params.get("billingNumber") or None
        return JSONResponse(_manifest_body(state, day, billing, include == "include", request))

    @router.get("/labels", name="dhl_labels")
    async def labels(token: str = "") -> Response:
        pdf = state.documents.get(token)
        if pdf is None:
            return _problem(404, "Not Found", "Unknown document token.")
        return Response(pdf, media_type="application/pdf")

    return router


def _token_router(state: DhlParcelState) -> APIRouter:
    router = APIRouter()

    @router.post(TOKEN_PATH)
    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "password":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        secret = form.get("client_secret", "")
        secret_ok = bool(secret) and (
            state.client_secret is None or secrets.compare_digest(secret, state.client_secret)
        )
        if form.get("client_id") != state.api_key or not secret_ok:
            return JSONResponse({"error": "invalid_client"}, 401)
        user, password = form.get("username", ""), form.get("password", "")
        if user not in state.users or not secrets.compare_digest(state.users[user], password):
            return JSONResponse({"error": "invalid_grant"}, 400)
        value = secrets.token_urlsafe(24)
        state.tokens[value] = time.monotonic() + state.token_lifetime
        state.tokens_issued += 1
        return JSONResponse(
            {
                "access_token": value,
                "token_type": "Bearer",
                "expires_in": int(state.token_lifetime),
            },
            headers={"Cache-Control": "no-store"},
        )

    return router


def create_app(
    api_key: str,
    users: dict[str, str],
    known_shipments: set[str] | None = None,
    *,
    client_secret: str | None = None,
    profiles: Iterable[str] = (DEFAULT_PROFILE,),
    today: Callable[[], date] = date.today,
    max_age_days: int = 90,
    token_lifetime: float = 1800.0,
) -> FastAPI:
    """The simulator as an ASGI app; serve it with `simulators.server.serve_in_thread`.

    `known_shipments=None` accepts any number (as if every label had been created here);
    with a set, other numbers get an error status. `client_secret=None` accepts any non-empty
    client secret at the token endpoint."""
    state = DhlParcelState(
        api_key=api_key,
        users=dict(users),
        client_secret=client_secret,
        profiles=set(profiles),
        accept_any_number=known_shipments is None,
        today=today,
        max_age_days=max_age_days,
        token_lifetime=token_lifetime,
    )
    state.add_shipments(sorted(known_shipments or ()))
    app = FastAPI(title="DHL Parcel DE Shipping v2 (simulator)", openapi_url=None, docs_url=None)
    check_requests(app, [SPEC_FILE], _bad_request)
    app.state.dhl = state
    app.include_router(_shipping_router(state))
    app.include_router(_token_router(state))
    return app
