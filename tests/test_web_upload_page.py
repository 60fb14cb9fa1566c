"""Uploading a tracking CSV on /imports: the form, its CSRF guard, the result page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import lxml.html
import pytest

from core.settings import Settings
from db.queries.imports import create_import
from db.session import session_scope
from simulators.samples import tracking_csv
from tests.helpers import seed_orders
from tests.test_web_app import OPERATOR, WebClient, web_settings
from tests.test_web_uploads import counts
from web.app import create_app
from web.imports import drain

GERMAN = {"accept-language": "de-DE,de;q=0.9"}
ENGLISH = {"accept-language": "en-GB,en;q=0.9"}
README = (Path(__file__).parent.parent / "README.md").read_bytes()


@pytest.fixture
def client(settings: Settings) -> Iterator[WebClient]:
    yield WebClient(create_app(web_settings(settings, max_upload_bytes=200_000)))
    drain(timeout=120)


def form_fields(client: WebClient, headers: dict[str, str] = ENGLISH) -> dict[str, str]:
    page = lxml.html.fromstring(client.get("/imports", auth=OPERATOR, headers=headers).text)
    (form,) = page.xpath('//form[@id="upload"]')
    assert form.get("enctype") == "multipart/form-data"
    return {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}


def send(
    client: WebClient,
    data: bytes,
    fields: dict[str, str],
    name: str = "tracking.csv",
    headers: dict[str, str] = ENGLISH,
) -> httpx.Response:
    return client.post(
        "/imports/upload",
        files={"file": (name, data, "text/csv")},
        data=fields,
        auth=OPERATOR,
        headers=headers,
    )


def test_the_upload_needs_the_operator_login(settings: Settings, client: WebClient) -> None:
    response = client.post("/imports/upload", files={"file": ("t.csv", b"x", "text/csv")})
    assert response.status_code == 401
    assert counts(settings) == (0, 0)


def test_an_upload_goes_to_its_import_page(settings: Settings, client: WebClient) -> None:
    data = tracking_csv(seed_orders(settings.db_url, 3))
    response = send(client, data, form_fields(client))
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/imports/")
    drain(timeout=120)
    page = client.get(location, auth=OPERATOR, headers=ENGLISH)
    assert page.status_code == 200
    assert "3 rows · 3 imported" in page.text
    assert 'http-equiv="refresh"' not in page.text
    assert counts(settings) == (1, 3)


@pytest.mark.slow
def test_the_same_file_uploaded_again_goes_to_the_first_import(
    settings: Settings, client: WebClient
) -> None:
    data = tracking_csv(seed_orders(settings.db_url, 2))
    first = send(client, data, form_fields(client))
    drain(timeout=120)
    second = send(client, data, form_fields(client))
    assert second.status_code == 303
    assert second.headers["location"] == first.headers["location"]
    assert counts(settings)[0] == 1


def test_an_upload_from_another_site_is_refused(settings: Settings, client: WebClient) -> None:
    fields = form_fields(client)
    response = client.post(
        "/imports/upload",
        files={"file": ("t.csv", b"order_no;carrier;tracking_number\n", "text/csv")},
        data=fields,
        auth=OPERATOR,
        headers={"sec-fetch-site": "cross-site"},
    )
    assert response.status_code == 403
    assert counts(settings) == (0, 0)


def test_an_upload_without_the_pages_nonce_is_refused(
    settings: Settings, client: WebClient
) -> None:
    fields = {**form_fields(client), "nonce": "forged"}
    response = send(client, b"order_no;carrier;tracking_number\n", fields, headers=GERMAN)
    assert response.status_code == 403
    assert "zu lange geöffnet" in response.text  # the form again, with a fresh nonce
    assert counts(settings) == (0, 0)


def test_a_readme_is_refused_at_the_file_field_at_once(
    settings: Settings, client: WebClient
) -> None:
    response = send(client, README, form_fields(client), name="README.md")
    assert response.status_code == 422
    page = lxml.html.fromstring(response.text)
    (message,) = page.xpath('//*[@id="file-error"]')
    assert "order column" in message.text_content()
    assert page.xpath('//input[@name="file"]')[0].get("aria-describedby") == "file-error"
    assert counts(settings) == (0, 0)


def test_the_form_speaks_german(client: WebClient) -> None:
    page = client.get("/imports", auth=OPERATOR, headers=GERMAN).text
    assert "Datei hochladen" in page


def test_a_running_import_page_refreshes_itself(settings: Settings, client: WebClient) -> None:
    with session_scope(settings.db_url) as session:
        import_id = create_import(
            session,
            file_name="t.csv",
            sha256="0" * 64,
            archive_path="/nowhere/t.csv",
            file_format=None,
            carrier=None,
            source="upload",
            status="queued",
        )
    page = client.get(f"/imports/{import_id}", auth=OPERATOR, headers=ENGLISH).text
    assert 'http-equiv="refresh"' in page
    assert f'href="/imports/{import_id}"' in page  # a reload link without scripts too
