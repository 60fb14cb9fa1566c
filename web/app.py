"""The FastAPI app: `create_app(settings)` wires routes, headers, error pages and static files.

Every response carries the security headers (a CSP without inline scripts or styles, no
framing, no referrer). Errors are answered with fixed pages (HTML) or `{"error": …}` (API and
health), never with a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings, get_settings
from db.queries.web import database_answers
from db.session import session_scope
from web import (
    buyer,
    imports,
    operator,
    order_actions,
    parcel_entry,
    problems,
    uploads,
    webhooks,
)
from web.auth import WebCredentials, resolve_credentials
from web.buyer import redact_buyer_links
from web.render import Pages

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("liefern.web")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeaders:
    """Adds the security headers to every response; pages and API answers are not cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                headers.extend(SECURITY_HEADERS)
                if not cacheable:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_OURS = {name for name, _ in SECURITY_HEADERS} | {b"cache-control"}


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path == "/healthz"


def _secured(response: Response) -> Response:
    """For answers made outside the middleware (the last-resort 500 handler)."""
    for name, value in SECURITY_HEADERS:
        response.headers[name.decode()] = value.decode()
    response.headers["cache-control"] = "no-store"
    return response


def create_app(settings: Settings | None = None) -> FastAPI:
    """The web app over `settings` (default: the environment's).

    Refuses to start outside demo mode with a placeholder LIEFERN_SECRET_KEY. The tracking
    import of an upload runs with the environment's settings (`get_settings()`), so both
    should name the same database."""
    settings = settings or get_settings()
    settings.require_real_secret()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(imports.resume_queued, settings.db_url)
        yield
        imports.shutdown(wait=False)

    app = FastAPI(
        title="liefern",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.pages = pages = Pages()
    app.state.credentials = resolve_credentials(settings)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        headers = dict(error.headers or {})
        own_text = error.status_code in (401, 503) and isinstance(error.detail, str)
        if _wants_json(request):
            message = error.detail if isinstance(error.detail, str) else "error"
            return JSONResponse({"error": message}, error.status_code, headers=headers)
        return pages.error(
            error.status_code, headers=headers, detail=error.detail if own_text else None
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        if _wants_json(request):
            fields = [".".join(str(p) for p in e.get("loc", ())) for e in error.errors()]
            return JSONResponse(
                {"error": "invalid request", "fields": fields},
                status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        return pages.error(status.HTTP_404_NOT_FOUND)

    @app.exception_handler(Exception)
    async def crashed(request: Request, error: Exception) -> Response:
        path = redact_buyer_links(request.url.path)
        log.error("%s %s failed: %s", request.method, path, type(error).__name__)
        if _wants_json(request):
            return _secured(JSONResponse({"error": "internal error"}, 500))
        return _secured(pages.error(500))

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            with session_scope(settings.db_url) as session:
                ok = database_answers(session)
        except Exception as error:
            log.warning("health check: database unreachable (%s)", type(error).__name__)
            ok = False
        if not ok:
            return JSONResponse({"status": "error", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    app.include_router(buyer.router)
    app.include_router(uploads.router)
    app.include_router(uploads.page_router)
    app.include_router(operator.router)
    app.include_router(problems.router)
    app.include_router(parcel_entry.router)
    app.include_router(order_actions.router)
    app.include_router(webhooks.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
    return app


def demo_logins(app: FastAPI) -> dict[str, str]:
    """The logins generated for a demo, to be shown once at start (empty when configured)."""
    credentials: WebCredentials = app.state.credentials
    shown: dict[str, str] = {}
    if "operator_password" in credentials.generated and credentials.operator_password:
        shown["operator_user"] = credentials.operator_user
        shown["operator_password"] = credentials.operator_password.get_secret_value()
    if "api_token" in credentials.generated and credentials.api_token:
        shown["api_token"] = credentials.api_token.get_secret_value()
    return shown
