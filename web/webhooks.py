"""`POST /webhooks/tracking/{source}`: carriers (or a tracking service) push parcel events.

Each source has its own secret, `LIEFERN_WEBHOOK_<SOURCE>_SECRET` (or the Prefect Secret block
`liefern-webhook-<source>-secret`); a source without one does not exist (404). A push carries

    X-Liefern-Timestamp: <unix seconds>
    X-Liefern-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>

and is refused with 401 when the signature is wrong or the timestamp is more than five minutes
off (a replayed request). The body is one event as JSON:

    {"event_id": "…", "tracking_number": "…", "status": "delivered", "at": "2026-12-04T10:02:00Z",
     "code": "…", "text": "…", "location": "…", "expected_delivery": "2026-12-05"}

`status` is one of core.tracking.DeliveryStatus. The event id makes a push idempotent: the same
event again answers 200 with `"duplicate": true` and changes nothing. Neither the secret nor the
signature is ever logged. No CSRF token here: the signature is the authentication, and no
browser cookie is involved.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from connectors.credentials import MissingCredentials, secret
from core.tracking import DeliveryStatus, ParcelReport, TrackedEvent
from db.queries.tracking import arrive_orders, parcel_by_number, record_report
from db.session import session_scope
from db.types import utcnow
from web.deps import AppSettings

router = APIRouter()

TIMESTAMP_HEADER = "x-liefern-timestamp"
SIGNATURE_HEADER = "x-liefern-signature"
WINDOW_SECONDS = 300
MAX_BODY = 64 * 1024


class PushedEvent(BaseModel):
    event_id: str = Field(min_length=1, max_length=128)
    tracking_number: str = Field(min_length=1, max_length=64)
    status: DeliveryStatus
    at: datetime
    code: str = Field(default="", max_length=64)
    text: str = Field(default="", max_length=500)
    location: str | None = Field(default=None, max_length=200)
    expected_delivery: date | None = None


def signature(secret_value: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret_value.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _refuse(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


@router.post("/webhooks/tracking/{source}")
async def tracking_webhook(source: str, request: Request, settings: AppSettings) -> JSONResponse:
    if not source.isidentifier() or len(source) > 24:
        return _refuse(404, "unknown source")
    try:
        key = secret("webhook", source, "secret").get_secret_value()
    except MissingCredentials:
        return _refuse(404, "unknown source")
    body = await request.body()
    if len(body) > MAX_BODY:
        return _refuse(413, "body too large")
    stamp = request.headers.get(TIMESTAMP_HEADER, "")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(given.encode(), signature(key, stamp, body).encode()):
        return _refuse(401, "bad signature")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > WINDOW_SECONDS:
        return _refuse(401, "timestamp outside the allowed window")
    try:
        event = PushedEvent.model_validate(json.loads(body))
    except (ValueError, ValidationError) as error:
        return _refuse(422, f"not a tracking event: {str(error)[:200]}")
    if event.at.tzinfo is None:
        return _refuse(422, "not a tracking event: `at` needs a time zone")
    return JSONResponse(_store(settings.db_url, f"webhook:{source}", event))


def _store(db_url: str, source: str, event: PushedEvent) -> dict[str, Any]:
    tracked = TrackedEvent(
        at=event.at,
        status=event.status,
        code=event.code or str(event.status),
        text=event.text,
        location=event.location,
        event_id=event.event_id,
    )
    report = ParcelReport(
        event.tracking_number,
        event.status,
        text=event.text,
        events=(tracked,),
        expected_delivery=event.expected_delivery,
    )
    now = utcnow()
    with session_scope(db_url) as session:
        parcel = parcel_by_number(session, tracking_number=event.tracking_number)
        if parcel is None:
            return {"stored": False, "reason": "unknown tracking number"}
        added = record_report(session, parcel_id=parcel.id, source=source, report=report, now=now)
        if not added:
            return {"stored": False, "duplicate": True}
        arrivals = arrive_orders(session, order_ids=[parcel.order_id], source=source, now=now)
    return {"stored": True, "arrived": [a.order_no for a in arrivals if a.outcome == "arrived"]}
