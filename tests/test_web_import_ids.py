"""Import ids in web addresses, and the upload of a file whose earlier import failed."""

from __future__ import annotations

import pytest

from core.archive import sha256_of
from core.settings import Settings
from db.queries.imports import create_import, finish_import
from db.session import session_scope
from tests.helpers import numbers, seed_orders
from tests.test_web_app import OPERATOR, WebClient, web_settings
from tests.test_web_uploads import BEARER, client, upload, wait_until_finished
from web.app import create_app

__all__ = ["client"]  # the upload API's client fixture, with its drain of import runs

NOT_AN_IMPORT = [
    "99999999999999999999999",
    str(2**63),
    "-1",
    "-99999999999999999999999",
    "0",
    "abc",
    "1e3",
    "%C2%B2",  # "²", a digit to str.isdigit()
]


@pytest.mark.parametrize("import_id", NOT_AN_IMPORT)
def test_the_api_answers_404_for_an_import_id_out_of_range(
    client: WebClient, import_id: str
) -> None:
    response = client.get(f"/api/tracking-imports/{import_id}", headers=BEARER)
    assert response.status_code == 404
    assert response.json()["error"].startswith("no tracking import")


@pytest.mark.parametrize("import_id", NOT_AN_IMPORT)
def test_the_import_page_answers_404_for_an_import_id_out_of_range(
    settings: Settings, import_id: str
) -> None:
    pages = WebClient(create_app(web_settings(settings)))
    assert pages.get(f"/imports/{import_id}", auth=OPERATOR).status_code == 404


@pytest.mark.usefixtures("prefect_harness")
def test_a_file_whose_import_failed_starts_a_new_import_when_sent_again(
    settings: Settings, client: WebClient
) -> None:
    seed_orders(settings.db_url, 1)
    data = f"order_no;tracking_number\nAU100001;{numbers('dhl', 1)[0]}\n".encode()
    # a file the reader refuses never becomes an import now (422 at once), so the failed
    # import stands for one whose run broke after the upload was accepted
    with session_scope(settings.db_url) as session:
        failed_id = create_import(
            session,
            file_name="tracking.csv",
            sha256=sha256_of(data),
            archive_path="/gone/tracking.csv",
            file_format=None,
            carrier=None,
            source="upload",
            status="queued",
        )
        finish_import(
            session,
            import_id=failed_id,
            rows=0,
            imported=0,
            already_known=0,
            rejected=0,
            status="failed",
            error="the import run failed",
        )
    first = {"import_id": failed_id}
    second = upload(client, data, carrier="dhl").json()
    assert second["duplicate"] is False and second["import_id"] != first["import_id"]
    done = wait_until_finished(client, second["import_id"])
    assert (done["status"], done["imported"]) == ("done", 1)
    third = upload(client, data, carrier="dhl").json()
    assert (third["duplicate"], third["import_id"]) == (True, second["import_id"])


@pytest.mark.parametrize("path", ["/imports", "/orders"])
@pytest.mark.parametrize("page", ["%C2%B2", "99999999999999999999999", "-1", "x"])
def test_a_page_number_out_of_range_shows_the_first_page(
    settings: Settings, path: str, page: str
) -> None:
    pages = WebClient(create_app(web_settings(settings)))
    assert pages.get(f"{path}?page={page}", auth=OPERATOR).status_code == 200
