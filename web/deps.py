"""Dependencies of the routes: the app's settings, its pages, and the two kinds of login."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.settings import Settings
from web.auth import WebCredentials, check_api_token, check_operator
from web.render import Pages


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def app_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


def app_credentials(request: Request) -> WebCredentials:
    credentials: WebCredentials = request.app.state.credentials
    return credentials


def operator_login(request: Request) -> str:
    return check_operator(app_credentials(request), request.headers.get("authorization"))


def api_login(request: Request) -> None:
    check_api_token(app_credentials(request), request.headers.get("authorization"))


# the largest id a BIGINT (PostgreSQL) or INTEGER (SQLite) key column can hold
MAX_ROW_ID = 2**63 - 1


def row_id(text: str) -> int | None:
    """The id in a path like `/imports/{id}`, or None for anything no row can have.

    Ids come as text, not as FastAPI `int`: Python's int has no upper bound, so
    `/imports/99999999999999999999999` reached the database driver and ended in an
    OverflowError (500). Anything that is not an id in range is "not found" (404)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None


AppSettings = Annotated[Settings, Depends(app_settings)]
AppPages = Annotated[Pages, Depends(app_pages)]
Operator = Annotated[str, Depends(operator_login)]
ApiClient = Annotated[None, Depends(api_login)]
