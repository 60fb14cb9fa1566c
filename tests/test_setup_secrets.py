"""Careless configuration is refused at start, naming the variable and how to make a good one.

Pure settings and app construction: no database is opened (create_app only reads settings).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner

from core.settings import MIN_SECRET_LENGTH, PLACEHOLDER_SECRET, Settings, reset_settings
from core.setup_error import SetupError
from web.app import create_app

REAL_SECRET = "a-real-secret-key-for-tests-0123456789"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A production-like environment with a real secret key and a private home."""
    monkeypatch.setenv("LIEFERN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LIEFERN_DATABASE_URL", f"sqlite:///{tmp_path / 'liefern.db'}")
    monkeypatch.setenv("LIEFERN_SECRET_KEY", REAL_SECRET)
    monkeypatch.setenv("LIEFERN_DEMO", "false")
    reset_settings()
    return monkeypatch


@pytest.mark.parametrize("variable", ["LIEFERN_OPERATOR_PASSWORD", "LIEFERN_API_TOKEN"])
@pytest.mark.parametrize("demo", ["true", "false"])
def test_an_empty_login_secret_is_refused_at_start_naming_the_variable(
    env: pytest.MonkeyPatch, variable: str, demo: str
) -> None:
    env.setenv(variable, "")
    env.setenv("LIEFERN_DEMO", demo)
    with pytest.raises(SetupError) as refused:
        create_app(Settings())
    assert refused.value.message == f"{variable} is empty"
    assert f"at least {MIN_SECRET_LENGTH} characters" in refused.value.hint
    assert "secrets.token_urlsafe" in refused.value.hint


@pytest.mark.parametrize(
    "variable", ["LIEFERN_OPERATOR_PASSWORD", "LIEFERN_API_TOKEN", "LIEFERN_SECRET_KEY"]
)
def test_a_short_secret_is_refused_saying_the_minimum_length(
    env: pytest.MonkeyPatch, variable: str
) -> None:
    env.setenv(variable, "x" * (MIN_SECRET_LENGTH - 1))
    with pytest.raises(SetupError, match=f"{variable} is too short \\(15 characters, at least 16"):
        create_app(Settings())
    env.setenv(variable, "x" * MIN_SECRET_LENGTH)
    create_app(Settings())


def test_the_public_placeholder_key_is_refused_even_in_demo_mode(env: pytest.MonkeyPatch) -> None:
    env.setenv("LIEFERN_DEMO", "true")
    env.setenv("LIEFERN_SECRET_KEY", PLACEHOLDER_SECRET)
    with pytest.raises(SetupError, match="LIEFERN_SECRET_KEY is the public placeholder"):
        create_app(Settings())


def test_an_unset_secret_key_is_refused_outside_demo_mode(env: pytest.MonkeyPatch) -> None:
    env.delenv("LIEFERN_SECRET_KEY")
    with pytest.raises(SetupError) as refused:
        create_app(Settings())
    assert "LIEFERN_SECRET_KEY is not set" in refused.value.message
    assert "LIEFERN_DEMO=true" in refused.value.hint


def test_demo_mode_signs_with_a_random_key_kept_per_home_for_its_owner_only(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.delenv("LIEFERN_SECRET_KEY")
    env.setenv("LIEFERN_DEMO", "true")
    first = Settings().secret_key.get_secret_value()
    assert first != PLACEHOLDER_SECRET and len(first) >= 32
    key_file = tmp_path / "home" / "secret-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Settings().secret_key.get_secret_value() == first  # the next start, a worker
    env.setenv("LIEFERN_HOME", str(tmp_path / "other-home"))
    assert Settings().secret_key.get_secret_value() != first
    create_app(Settings())


def test_a_configured_key_in_demo_mode_is_used_and_no_key_file_is_made(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("LIEFERN_DEMO", "true")
    assert Settings().secret_key.get_secret_value() == REAL_SECRET
    assert not (tmp_path / "home" / "secret-key").exists()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:8000/", "http://[::1]:8000"]
)
def test_a_demo_on_this_machine_may_serve(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("LIEFERN_DEMO", "true")
    env.setenv("LIEFERN_PUBLIC_URL", url)
    Settings().require_local_demo()


def test_serve_refuses_a_demo_with_a_public_url(env: pytest.MonkeyPatch) -> None:
    from cli.serve_cmd import serve

    env.setenv("LIEFERN_DEMO", "true")
    env.setenv("LIEFERN_PUBLIC_URL", "https://versand.example.de")
    reset_settings()
    app = typer.Typer()
    app.command()(serve)
    result = CliRunner().invoke(app, ["--json", "--no-prefect"])
    assert result.exit_code == 2, result.output
    refusal = json.loads(result.stdout)
    assert "LIEFERN_PUBLIC_URL https://versand.example.de" in refusal["error"]
    assert "LIEFERN_DEMO=false" in refusal["hint"]


def test_a_real_configuration_starts(env: pytest.MonkeyPatch) -> None:
    env.setenv("LIEFERN_OPERATOR_PASSWORD", "operator-password-0123")
    env.setenv("LIEFERN_API_TOKEN", "api-token-0123456789abcdef")
    settings = Settings()
    assert settings.api_token == SecretStr("api-token-0123456789abcdef")
    create_app(settings)


def test_an_empty_bearer_token_or_password_is_never_a_login() -> None:
    import base64

    from fastapi import HTTPException

    from web.auth import WebCredentials, check_api_token, check_operator

    # however they got there: empty secrets are refused at start, and refused here again
    careless = WebCredentials("operator", SecretStr(""), SecretStr(""))
    with pytest.raises(HTTPException) as token_refused:
        check_api_token(careless, "Bearer ")
    assert token_refused.value.status_code == 401
    empty_login = "Basic " + base64.b64encode(b"operator:").decode()
    with pytest.raises(HTTPException) as login_refused:
        check_operator(careless, empty_login)
    assert login_refused.value.status_code == 401
