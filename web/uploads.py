"""The upload API: `POST /api/tracking-imports` takes a CSV, `GET …/{id}` tells the result.

The file is archived under its sha256 before anything else happens, and the same bytes
uploaded again answer with the first import (`"duplicate": true`) and start nothing, so a
script that retries after a timeout never imports twice; only after a failed import (the
file could not be read) do the same bytes start a new one. The check and the new import are one
step under a lock in the database, so that holds for the same file sent at once to several
web processes or machines too.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from itsdangerous import BadSignature, TimestampSigner
from starlette.concurrency import run_in_threadpool

from core.archive import archive_file, safe_file_name, sha256_of
from core.carriers.numbers import UnknownCarrier, get_carrier
from core.carriers.table import CARRIERS
from core.problems import UnreadableInput
from core.settings import Settings
from core.tracking_csv import PRESETS, read_header
from db.queries.imports import create_import, import_summary
from db.queries.web import latest_upload_import
from db.session import session_scope
from tasks.guard import RunOverlap, short_lock
from web.buyer import is_cross_site
from web.deps import ApiClient, AppPages, AppSettings, Operator, row_id
from web.i18n import OperatorUi, Ui
from web.imports import start_import
from web.multipart import BadForm, TooLarge, UploadForm, read_form
from web.render import Pages

router = APIRouter(prefix="/api")

# the keys of `liefern tracking import --json`, plus the import's status and error
SUMMARY_KEYS = ("import_id", "rows", "imported", "already_known", "rejected", "status", "error")

# one check-then-create at a time for the same bytes, in every web process on the database
REGISTER_WAIT_SECONDS = 30.0
REGISTER_LOCK_TTL = timedelta(minutes=2)


# bytes below 0x20 that no text file holds (tab, LF, CR, FF and DOS's end-of-file mark may)
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f]")


class NotCsv(ValueError):
    pass


NOT_TRACKING_HINT = (
    "send a CSV whose first line names the order and the tracking number columns "
    "(e.g. order_no;carrier;tracking_number;ship_date); for a carrier export the header is "
    "recognised, else set the form field `format` (" + ", ".join(PRESETS) + ") and, "
    "without a carrier column, `carrier`"
)


def check_tracking_file(data: bytes, file_format: str | None, carrier: str | None) -> None:
    """NotTracking when the reader would refuse the file: checked before it is accepted."""
    try:
        read_header(data, file_format=file_format, carrier=carrier)
    except UnreadableInput as error:
        raise NotTracking(str(error)) from error


class NotTracking(ValueError):
    pass


def problem(status_code: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code)


def check_csv_text(data: bytes) -> str:
    """The encoding the bytes read as, or NotCsv for anything that is not plain text.

    UTF-8 (with or without BOM) or Windows-1252 as carrier software writes them; UTF-16
    only with its BOM (Excel's "Unicode text"), since it is full of NUL bytes otherwise."""
    if not data.strip():
        raise NotCsv("the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise NotCsv("the file is not valid UTF-16 text") from error
        if _CONTROL_TEXT.search(text):
            raise NotCsv("the file contains control characters: not a CSV file")
        return "utf-16"
    if b"\x00" in data:
        raise NotCsv("the file contains NUL bytes: not a CSV file")
    if _CONTROL_BYTES.search(data):
        raise NotCsv("the file contains control characters: not a CSV file")
    for encoding in ("utf-8", "cp1252"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise NotCsv("the file is neither UTF-8 nor Windows-1252 text")


def _summary(summary: dict[str, Any]) -> dict[str, Any]:
    return {key: summary[key] for key in SUMMARY_KEYS}


@router.post("/tracking-imports", status_code=status.HTTP_202_ACCEPTED)
async def upload_tracking_file(
    request: Request, settings: AppSettings, _client: ApiClient
) -> JSONResponse:
    """Archive the uploaded CSV, register a `queued` import and start the import flow."""
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        return problem(413, f"the file is larger than the limit of {limit} bytes")
    try:
        form = await read_form(
            request.stream(),
            content_type=request.headers.get("content-type"),
            max_file_bytes=limit,
        )
    except TooLarge:
        return problem(413, f"the file is larger than the limit of {limit} bytes")
    except BadForm as error:
        return problem(400, str(error))
    return await run_in_threadpool(_register_upload, settings, form)


@dataclass(frozen=True)
class Accepted:
    import_id: int
    status: str
    duplicate: bool


@dataclass(frozen=True)
class Refused:
    status_code: int
    error: str
    hint: str | None = None
    reason: str = "refused"  # the web form's text for it: `upload_<reason>` in the catalogues

    def json(self) -> JSONResponse:
        body = {"error": self.error} | ({"hint": self.hint} if self.hint else {})
        return JSONResponse(body, status_code=self.status_code)


def _register_upload(settings: Settings, form: UploadForm) -> JSONResponse:
    """Check, archive and register the file, then start its import (in a worker thread)."""
    outcome = register(settings, form)
    if isinstance(outcome, Refused):
        return outcome.json()
    return _accepted(outcome.import_id, outcome.status, duplicate=outcome.duplicate)


def register(settings: Settings, form: UploadForm) -> Accepted | Refused:
    """The one path of an upload, API or browser form: check the file, then archive and
    register it and start its import, or find the earlier import of the same bytes."""
    upload = form.files.get("file")
    if upload is None:
        return Refused(
            400, "no file: send it as multipart/form-data in the field `file`", reason="no_file"
        )
    try:
        check_csv_text(upload.data)
    except NotCsv as error:
        return Refused(415, f"{error}; send a CSV file (UTF-8 or Windows-1252)", reason="not_text")
    carrier = form.fields.get("carrier") or None
    file_format = (form.fields.get("format") or "").lower() or None
    if carrier:
        try:
            carrier = get_carrier(carrier).code
        except UnknownCarrier as error:
            return Refused(400, str(error), reason="unknown_carrier")
    if file_format and file_format not in PRESETS:
        return Refused(
            400,
            f"unknown format {file_format!r}; use one of {', '.join(PRESETS)}",
            reason="unknown_format",
        )
    try:
        check_tracking_file(upload.data, file_format, carrier)
    except NotTracking as error:
        # refused now, not a `failed` import a minute later: no import row, nothing archived
        return Refused(422, str(error), NOT_TRACKING_HINT, reason="not_tracking")
    file_name = safe_file_name(upload.file_name or "upload.csv")
    digest = sha256_of(upload.data)
    try:
        with short_lock(
            settings.db_url,
            f"upload:{digest[:48]}",  # lock names are at most 64 characters
            wait_seconds=REGISTER_WAIT_SECONDS,
            ttl=REGISTER_LOCK_TTL,
        ):
            return _register_new(settings, upload.data, digest, file_name, file_format, carrier)
    except RunOverlap:
        return Refused(
            503,
            "the same file is being registered by another request right now; "
            "send it again in a few minutes (it will not be imported twice)",
            reason="busy",
        )


def _register_new(
    settings: Settings,
    data: bytes,
    digest: str,
    file_name: str,
    file_format: str | None,
    carrier: str | None,
) -> Accepted:
    """Under the file's lock: the earlier import of these bytes, or a new one started."""
    with session_scope(settings.db_url) as session:
        earlier = latest_upload_import(session, sha256=digest)
        # a failed import imported nothing: the same bytes again (perhaps now with the
        # carrier or format it lacked) are a new import, not a duplicate of that one
        if earlier is not None and earlier.status != "failed":
            return Accepted(earlier.id, earlier.status, duplicate=True)
    archived = _archive(settings, data, file_name)
    with session_scope(settings.db_url) as session:
        import_id = create_import(
            session,
            file_name=file_name,
            sha256=digest,
            archive_path=str(archived),
            file_format=file_format,
            carrier=carrier,
            source="upload",
            status="queued",
        )
    start_import(import_id, archived, file_format, carrier, sha256=digest, file_name=file_name)
    return Accepted(import_id, "queued", duplicate=False)


def _archive(settings: Settings, data: bytes, file_name: str) -> Path:
    _, path = archive_file(settings.archive_dir, data=data, file_name=file_name)
    return path


def _accepted(import_id: int, import_status: str, *, duplicate: bool) -> JSONResponse:
    url = f"/api/tracking-imports/{import_id}"
    return JSONResponse(
        {"import_id": import_id, "status": import_status, "duplicate": duplicate, "url": url},
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": url},
    )


@router.get("/tracking-imports/{import_id}")
def tracking_import_result(
    import_id: str, settings: AppSettings, _client: ApiClient
) -> JSONResponse:
    """The import as `liefern tracking import --json` shows it, plus `status` and `error`."""
    number = row_id(import_id)
    summary = None
    if number is not None:
        with session_scope(settings.db_url) as session:
            summary = import_summary(session, import_id=number)
    if summary is None:
        return problem(404, f"no tracking import {import_id[:40]}")
    return JSONResponse(_summary(summary))


# --- the upload form on /imports ----------------------------------------------------------------

page_router = APIRouter()

UPLOAD_NONCE_SALT = "liefern.upload-form.v1"
UPLOAD_NONCE_MAX_AGE_SECONDS = 12 * 3600  # a page open through a shift still works


def make_upload_nonce(secret: str) -> str:
    """The upload form's nonce: signed like the tracking entry's, but bound to no order."""
    signer = TimestampSigner(secret, salt=UPLOAD_NONCE_SALT)
    return signer.sign(f"upload.{secrets.token_urlsafe(9)}").decode("ascii")


def upload_nonce_is_valid(secret: str, nonce: str | None) -> bool:
    if not nonce or len(nonce) > 200:
        return False
    try:
        signer = TimestampSigner(secret, salt=UPLOAD_NONCE_SALT)
        value = signer.unsign(nonce, max_age=UPLOAD_NONCE_MAX_AGE_SECONDS).decode("ascii")
    except (BadSignature, UnicodeDecodeError):
        return False
    return value.startswith("upload.")


def upload_form_context(settings: Settings) -> dict[str, Any]:
    """What imports.html.j2's upload form needs: a fresh nonce and the choices."""
    return {
        "upload_nonce": make_upload_nonce(settings.secret_key.get_secret_value()),
        "formats": [(p.name, p.description) for p in PRESETS.values()],
        "carriers": [(c.code, c.name) for c in CARRIERS.values()],
    }


@page_router.post("/imports/upload", response_class=HTMLResponse)
async def upload_page_form(
    request: Request,
    settings: AppSettings,
    pages: AppPages,
    ui: OperatorUi,
    _operator: Operator,
) -> Response:
    """The browser's upload: the API's checks and register path, then the import's page."""
    if is_cross_site(request, settings):
        return pages.error(status.HTTP_403_FORBIDDEN)
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    too_large = ui.text("upload_too_large", limit=ui.number(limit))
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        return await _form_again(settings, pages, ui, too_large, 413)
    try:
        form = await read_form(
            request.stream(),
            content_type=request.headers.get("content-type"),
            max_file_bytes=limit,
        )
    except TooLarge:
        return await _form_again(settings, pages, ui, too_large, 413)
    except BadForm:
        return await _form_again(settings, pages, ui, ui.text("upload_bad_form"), 400)
    if not upload_nonce_is_valid(settings.secret_key.get_secret_value(), form.fields.get("nonce")):
        return await _form_again(settings, pages, ui, ui.text("form_expired"), 403)
    outcome = await run_in_threadpool(register, settings, form)
    if isinstance(outcome, Refused):
        message = ui.text(f"upload_{outcome.reason}", detail=outcome.error)
        return await _form_again(settings, pages, ui, message, outcome.status_code)
    # post/redirect/get: the import's page shows it running, then its result
    return RedirectResponse(f"/imports/{outcome.import_id}", status.HTTP_303_SEE_OTHER)


async def _form_again(
    settings: Settings, pages: Pages, ui: Ui, message: str, status_code: int
) -> HTMLResponse:
    """The imports page again with the file field's error (its list read in the thread pool)."""
    from web.operator import render_imports  # the page this form is part of

    return await run_in_threadpool(
        lambda: render_imports(settings, pages, ui, status_code=status_code, upload_error=message)
    )
