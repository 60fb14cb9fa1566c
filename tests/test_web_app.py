"""The web app as a whole: start-up rules, security headers, health, error pages.

Requests go through httpx's ASGI transport (no server); `WebClient` is shared by the other
`test_web_*` files.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from core.settings import Settings
from web.app import create_app, demo_logins

OPERATOR = ("operator", "operator-test-password")
API_TOKEN = "api-test-token-0123456789"
REAL_SECRET = "a-real-secret-key-for-tests-0123456789"


class WebClient:
    """A synchronous face on httpx.AsyncClient + ASGITransport, one event loop per request."""

    def __init__(self, app: FastAPI, base_url: str = "http://testserver") -> None:
        self.app = app
        self.base_url = base_url

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


def web_settings(settings: Settings, **changes: Any) -> Settings:
    """The test settings with both logins configured (and any further changes)."""
    values: dict[str, Any] = {
        "operator_user": OPERATOR[0],
        "operator_password": SecretStr(OPERATOR[1]),
        "api_token": SecretStr(API_TOKEN),
    }
    values.update(changes)
    return settings.model_copy(update=values)


@pytest.fixture
def client(settings: Settings) -> WebClient:
    return WebClient(create_app(web_settings(settings)))


def test_refuses_to_start_outside_demo_mode_with_the_placeholder_secret(
    settings: Settings,
) -> None:
    placeholder = settings.model_copy(update={"demo": False, "secret_key": SecretStr("change-me")})
    with pytest.raises(RuntimeError, match="LIEFERN_SECRET_KEY"):
        create_app(placeholder)


def test_refuses_the_public_placeholder_secret_in_demo_mode_too(settings: Settings) -> None:
    # demo mode makes a random key of its own when none is set (tests/test_setup_secrets.py)
    demo = settings.model_copy(update={"demo": True, "secret_key": SecretStr("change-me")})
    with pytest.raises(RuntimeError, match="LIEFERN_SECRET_KEY is the public placeholder"):
        create_app(demo)


@pytest.mark.parametrize(
    ("path", "variable"),
    [("/orders", "LIEFERN_OPERATOR_PASSWORD"), ("/api/tracking-imports/1", "LIEFERN_API_TOKEN")],
)
def test_unset_logins_outside_demo_mode_answer_503_naming_the_variable(
    settings: Settings, path: str, variable: str
) -> None:
    production = settings.model_copy(
        update={
            "demo": False,
            "secret_key": SecretStr(REAL_SECRET),
            "operator_password": None,
            "api_token": None,
        }
    )
    response = WebClient(create_app(production)).get(
        path, auth=OPERATOR, headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert response.status_code == 503
    assert variable in response.text


def test_demo_mode_generates_logins_that_work_and_are_shown_once(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"operator_password": None, "api_token": None}))
    logins = demo_logins(app)
    assert set(logins) == {"operator_user", "operator_password", "api_token"}
    client = WebClient(app)
    assert client.get("/orders", auth=("operator", logins["operator_password"])).status_code == 200
    assert client.get("/orders", auth=("operator", "guess")).status_code == 401
    assert logins["operator_password"] not in repr(app.state.credentials)


def test_configured_logins_are_never_shown(settings: Settings) -> None:
    assert demo_logins(create_app(web_settings(settings))) == {}


def test_every_answer_carries_the_security_headers(client: WebClient) -> None:
    for path in ("/arrived/not-a-token", "/healthz", "/orders", "/api/tracking-imports/1"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src" not in csp and "'unsafe-inline'" not in csp
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"


def test_the_stylesheet_is_served_as_a_file_the_csp_allows(client: WebClient) -> None:
    response = client.get("/static/liefern.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert ".st-confirmed" in response.text


def test_healthz_checks_the_database(client: WebClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})


def test_healthz_says_when_the_database_is_unreachable(settings: Settings, tmp_path: Any) -> None:
    broken = web_settings(settings, database_url=f"sqlite:///{tmp_path}/missing/dir/x.db")
    response = WebClient(create_app(broken)).get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_a_crash_shows_a_fixed_page_without_trace_or_secret(settings: Settings) -> None:
    app = create_app(web_settings(settings))

    def explode() -> None:
        raise RuntimeError(f"boom with {REAL_SECRET} in /srv/liefern/web/app.py line 1")

    app.add_api_route("/explode", explode)
    response = WebClient(app).get("/explode")
    assert response.status_code == 500
    assert "boom" not in response.text and REAL_SECRET not in response.text
    assert "Traceback" not in response.text and "app.py" not in response.text
    assert response.headers["x-frame-options"] == "DENY"


def test_unknown_pages_get_the_bilingual_404_page(client: WebClient) -> None:
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert "Diese Seite gibt es nicht." in response.text
    assert "This page does not exist." in response.text


def test_buyer_link_tokens_are_cut_from_access_log_lines() -> None:
    import logging

    from web.buyer import RedactBuyerLinks

    token = "MTIz.c2lnbmF0dXJl"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/arrived/{token}?x=1", "1.1", 200),
        None,
    )
    assert RedactBuyerLinks().filter(record)
    line = record.getMessage()
    assert token not in line and "/arrived/…?x=1" in line


def test_serve_refuses_the_placeholder_secret_outside_demo_mode(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from typer.testing import CliRunner

    from cli.serve_cmd import serve
    from core.settings import reset_settings

    monkeypatch.setenv("LIEFERN_DEMO", "false")
    monkeypatch.setenv("LIEFERN_SECRET_KEY", "change-me")
    reset_settings()
    app = typer.Typer()
    app.command()(serve)
    result = CliRunner().invoke(app, ["--json"])
    assert result.exit_code == 2
    assert "LIEFERN_SECRET_KEY" in result.stdout
