"""A file that is not a tracking CSV is refused before it becomes an import (API and page)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from tests.test_web_app import WebClient, web_settings
from tests.test_web_uploads import counts, upload
from web.app import create_app
from web.imports import drain

README = (Path(__file__).parent.parent / "README.md").read_bytes()


@pytest.fixture
def client(settings: Settings) -> Iterator[WebClient]:
    yield WebClient(create_app(web_settings(settings, max_upload_bytes=200_000)))
    drain(timeout=120)


def test_a_readme_is_refused_with_422_naming_the_missing_columns(
    settings: Settings, client: WebClient
) -> None:
    response = upload(client, README, name="README.md")
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error", "hint"}
    assert "order column" in body["error"] and "tracking column" in body["error"]
    assert "format" in body["hint"]
    assert counts(settings) == (0, 0)


def test_a_file_without_a_carrier_is_refused_with_the_carrier_field_as_hint(
    settings: Settings, client: WebClient
) -> None:
    response = upload(client, b"Auftragsnummer;Sendungsnummer\nAU1;123\n")
    assert response.status_code == 422
    assert "carrier" in response.json()["error"]
    assert counts(settings) == (0, 0)


def test_a_header_that_fits_two_exports_is_refused_naming_both(
    settings: Settings, client: WebClient
) -> None:
    response = upload(client, b"TrackID;Barcode;Referenz\n1;2;AU1\n")
    assert response.status_code == 422
    assert "gls" in response.json()["error"] and "hermes" in response.json()["error"]
    assert counts(settings) == (0, 0)
