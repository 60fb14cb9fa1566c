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


AppSettings = Annotated[Settings, Depends(app_settings)]
AppPages = Annotated[Pages, Depends(app_pages)]
Operator = Annotated[str, Depends(operator_login)]
ApiClient = Annotated[None, Depends(api_login)]
