"""The imports pages and the rest of the workbench in the operator's language: import states,
sources, rejected rows, a refused upload's reason, the order page's flow runs and actions."""

from __future__ import annotations

import lxml.html
import pytest

from core.carriers.numbers import normalise_tracking_number
from core.clock import business_today
from core.problems import RowProblem
from core.settings import Settings
from core.tracking_rows import ParcelRow
from db.models import ShippingMail
from db.queries.actions import add_action
from db.queries.imports import add_rejections, create_import, finish_import
from db.queries.orders import get_order
from db.session import session_scope
from db.types import utcnow
from tasks.parcels import attach_parcels
from tests.helpers import numbers, seed_orders
from tests.test_web_app import OPERATOR, WebClient, web_settings
from tests.test_web_workbench import ENGLISH, GERMAN
from web.app import create_app


@pytest.fixture
def client(settings: Settings) -> WebClient:
    return WebClient(create_app(web_settings(settings)))


def an_import(settings: Settings, status: str, *, source: str = "upload") -> int:
    with session_scope(settings.db_url) as session:
        import_id = create_import(
            session, file_name="versand.csv", sha256="a" * 64, archive_path="-",
            file_format=None, carrier=None, source=source, status="queued",
        )  # fmt: skip
        if status in ("done", "failed"):
            add_rejections(
                session,
                import_id=import_id,
                problems=[
                    RowProblem(
                        3,
                        "tracking_number",
                        "00340434161094042558",
                        "bad_check_digit",
                        "check digit mismatch: expected 7, got 8",
                    )
                ],
            )
            finish_import(
                session, import_id=import_id, rows=3, imported=2, already_known=0, rejected=1,
                status=status, error="the file could not be read" if status == "failed" else None,
            )  # fmt: skip
    return import_id


def html(client: WebClient, url: str, headers: dict[str, str]) -> lxml.html.HtmlElement:
    answer = client.get(url, auth=OPERATOR, headers=headers)
    assert answer.status_code == 200, answer.text
    return lxml.html.fromstring(answer.text)


def test_import_states_and_sources_read_in_german(settings: Settings, client: WebClient) -> None:
    for status in ("queued", "done", "failed"):
        an_import(settings, status)
    an_import(settings, "done", source="cli")

    page = html(client, "/imports", GERMAN)

    states = [s.text_content() for s in page.xpath("//table[@class='imports']//span")]
    assert states == ["fertig", "fehlgeschlagen", "fertig", "wartet"]  # newest first
    sources = page.xpath("//table[@class='imports']/tbody/tr/td[4]/text()")
    assert sources == ["Kommandozeile", "Hochgeladen", "Hochgeladen", "Hochgeladen"]
    english = html(client, "/imports", ENGLISH)
    assert english.xpath("//table[@class='imports']//span")[0].text_content() == "done"


def test_an_imports_page_says_its_state_and_its_rejected_rows_in_german(
    settings: Settings, client: WebClient
) -> None:
    import_id = an_import(settings, "done")

    page = html(client, f"/imports/{import_id}", GERMAN)

    assert page.xpath("//title")[0].text_content().startswith(f"Tracking-Import {import_id}")
    assert page.xpath("//h1/span")[0].text_content() == "fertig"
    [why] = page.xpath("//table[@class='rejected']/tbody/tr/td[5]")
    assert why.text_content().startswith("Die Prüfziffer stimmt nicht")
    assert "expected 7, got 8" in (why.get("title") or "")  # the reader's own words on hover


def test_a_refused_upload_says_why_in_german(settings: Settings, client: WebClient) -> None:
    page = html(client, "/imports", GERMAN)
    [nonce] = page.xpath('//form[@id="upload"]/input[@name="nonce"]/@value')

    def refusal(data: bytes) -> str:
        answer = client.post(
            "/imports/upload",
            data={"nonce": nonce},
            files={"file": ("datei.csv", data, "text/csv")},
            auth=OPERATOR,
            headers=GERMAN,
        )
        assert answer.status_code in (415, 422)
        [error] = lxml.html.fromstring(answer.text).xpath('//*[@id="file-error"]')
        return str(error.text_content())

    assert refusal(b"# README\n\nnot a tracking file\n").startswith(
        "Diese Datei ist keine Sendungsnummern-Datei:"
    )
    assert refusal(b"\x00\x01binary").startswith("Diese Datei ist keine Textdatei (CSV):")


def test_the_order_pages_flow_runs_and_operator_actions_read_in_german(
    settings: Settings, client: WebClient
) -> None:
    seed_orders(settings.db_url, 1)
    with session_scope(settings.db_url) as session:
        order = get_order(session, order_no="AU100001")
        assert order is not None
        attach_parcels(
            session,
            rows=[
                ParcelRow(
                    1,
                    "AU100001",
                    "dhl",
                    normalise_tracking_number("dhl", numbers("dhl", 1)[0]),
                    business_today(),
                )
            ],
            source="web",
        )
        session.add(
            ShippingMail(
                order_id=order.id, carrier="dhl", status="sent", recipient=order.buyer_email,
                message_id="<AU100001.shipped@beispiel-shop.de>",
                language="de", flow_run_id="0b6f3d1e-2c4a-4e5f-9a7b-1c2d3e4f5a6b",
            )
        )  # fmt: skip
        add_action(
            session, order_id=order.id, action="arrived", by="anna",
            detail="marked arrived by the operator", at=utcnow(),
        )  # fmt: skip

    page = html(client, "/orders/AU100001", GERMAN)

    assert page.xpath("//ul[@class='runs']/li")[0].text_content().endswith("– Versandmail")
    [action] = page.xpath("//ol[@class='timeline']/li[contains(@class, 'kind-action')]")
    assert action.xpath("./span[@class='kind']")[0].text_content() == "Aktion"
    assert "anna" in action.text_content()
    assert page.xpath("//table[@class='parcels']/tbody/tr/td[4]")[0].text_content() == (
        "Bestellseite"
    )
