"""Action buttons on the order page (web/order_actions.py): the operator acts from the web app.

Real parts as in tests/test_order_actions.py: the mails go to an aiosmtpd server on loopback,
the portal is the eBay simulator over HTTP; every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio

import lxml.html
import pytest
from sqlalchemy import select, update

from core.carriers.numbers import normalise_tracking_number as canonical
from core.settings import Settings, get_settings
from db.models import Confirmation, ConfirmationRelease, Order, OrderAction, Parcel
from db.session import session_scope
from simulators.smtp import FaultySmtpServer
from simulators.stack import PortalStack
from tasks.actions import deliver_orders
from tests.helpers import numbers
from tests.test_confirmation_gate import (
    bounce,
    configure,
    confirmation_of,
    ebay_holds,
    shipped_orders,
)
from tests.test_order_actions import ebay_order, mail_of  # noqa: F401
from tests.test_web_app import OPERATOR, WebClient, web_settings
from tests.test_web_workbench import wrong_check_digit
from web.app import create_app

GERMAN = {"accept-language": "de-DE,de;q=0.9"}
ENGLISH = {"accept-language": "en-GB,en;q=0.9"}


@pytest.fixture
def client(ebay_order: Order) -> WebClient:  # noqa: F811
    # after ebay_order: the settings then point at the SMTP server and the simulators
    return WebClient(create_app(web_settings(get_settings())))


def action_form(client: WebClient, order_no: str, form_id: str) -> dict[str, str]:
    page = client.get(f"/orders/{order_no}", auth=OPERATOR)
    assert page.status_code == 200, page.text
    [form] = lxml.html.fromstring(page.text).xpath(f'//form[@id="{form_id}"]')
    return {str(i.get("name")): str(i.get("value")) for i in form.xpath(".//input[@type='hidden']")}


def act(
    client: WebClient, order_no: str, form_id: str, headers: dict[str, str] = ENGLISH, **extra: str
) -> str:
    """POSTs the button's form and follows the 303; the result message shown."""
    fields = {**action_form(client, order_no, form_id), **extra}
    answer = client.post(f"/orders/{order_no}/actions", data=fields, auth=OPERATOR)
    assert answer.status_code == 303, answer.text
    page = client.get(answer.headers["location"], auth=OPERATOR, headers=headers)
    [shown] = lxml.html.fromstring(page.text).xpath('//*[@id="action-result"]')
    return str(shown.text_content())


def actions_of(db_url: str, order: Order) -> list[tuple[str, str]]:
    with session_scope(db_url) as session:
        rows = session.scalars(select(OrderAction).where(OrderAction.order_id == order.id))
        return [(a.action, a.by) for a in rows]


def test_send_now_mails_the_buyer_confirms_the_portal_and_names_the_operator(
    db_url: str,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    shown = act(client, ebay_order.order_no, "action-deliver")

    assert shown == "Send the shipping mail now: shipping mail sent."
    assert len(smtp.messages) == 1
    assert confirmation_of(db_url, ebay_order).status == "confirmed"
    assert len(ebay_holds(portals, ebay_order)) == 1
    assert actions_of(db_url, ebay_order) == [("deliver", OPERATOR[0])]


def test_a_double_click_on_send_now_sends_one_mail_and_says_so_in_german(
    smtp: FaultySmtpServer,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    fields = action_form(client, ebay_order.order_no, "action-deliver")
    for _ in range(2):
        answer = client.post(f"/orders/{ebay_order.order_no}/actions", data=fields, auth=OPERATOR)
    page = client.get(answer.headers["location"], auth=OPERATOR, headers=GERMAN)

    assert len(smtp.messages) == 1
    [shown] = lxml.html.fromstring(page.text).xpath('//*[@id="action-result"]')
    assert shown.text_content().startswith("Versandmail jetzt senden: Die Versandmail ist schon")


def test_a_second_mail_needs_the_send_it_again_box(
    db_url: str,
    smtp: FaultySmtpServer,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    act(client, ebay_order.order_no, "action-deliver")
    shown = act(client, ebay_order.order_no, "action-deliver", again="1")

    assert shown == "Send the shipping mail now: shipping mail sent."
    assert len(smtp.messages) == 2


def test_a_failed_mail_is_resent_with_its_button(
    db_url: str,
    smtp: FaultySmtpServer,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    bounce(smtp, ebay_order)
    act(client, ebay_order.order_no, "action-deliver")
    assert mail_of(db_url, ebay_order).status == "failed"
    smtp.clear_faults()  # the buyer's mailbox works again

    shown = act(client, ebay_order.order_no, "action-resend", headers=GERMAN)

    assert shown == "Versandmail erneut senden: Versandmail gesendet."
    assert mail_of(db_url, ebay_order).status == "sent"


def test_retry_tells_the_portal_again_after_a_failure(
    db_url: str,
    portals: PortalStack,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    act(client, ebay_order.order_no, "action-deliver")
    with session_scope(db_url) as session:  # the portal had not answered that time
        session.execute(
            update(Confirmation)
            .where(Confirmation.order_id == ebay_order.id)
            .values(status="failed", error_text="timeout")
        )

    shown = act(client, ebay_order.order_no, "action-retry-ebay")

    assert shown == "Retry confirmation: confirmation retried."
    assert confirmation_of(db_url, ebay_order).status == "confirmed"
    assert ("confirmation_retry", OPERATOR[0]) in actions_of(db_url, ebay_order)


def test_mark_arrived_records_the_operator_and_a_second_click_changes_nothing(
    db_url: str,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    assert act(client, ebay_order.order_no, "action-arrived") == (
        "Mark arrived: order marked arrived."
    )
    fields = {
        "action": "arrived",
        "nonce": action_form(client, ebay_order.order_no, "action-deliver")["nonce"],
    }
    again = client.post(f"/orders/{ebay_order.order_no}/actions", data=fields, auth=OPERATOR)

    assert "already_arrived" in again.headers["location"]
    with session_scope(db_url) as session:
        order = session.get(Order, ebay_order.id)
        assert order is not None and order.status == "arrived"
    assert actions_of(db_url, ebay_order) == [("arrived", OPERATOR[0])]


def test_actions_need_the_operator_login(ebay_order: Order, client: WebClient) -> None:  # noqa: F811
    fields = action_form(client, ebay_order.order_no, "action-deliver")
    answer = client.post(f"/orders/{ebay_order.order_no}/actions", data=fields)

    assert answer.status_code == 401


def test_an_action_without_the_pages_nonce_is_refused(
    smtp: FaultySmtpServer,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    answer = client.post(
        f"/orders/{ebay_order.order_no}/actions",
        data={"action": "deliver", "nonce": "forged"},
        auth=OPERATOR,
    )

    assert answer.status_code == 403
    assert smtp.messages == []


def test_an_action_from_another_site_is_refused(
    smtp: FaultySmtpServer,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    fields = action_form(client, ebay_order.order_no, "action-deliver")
    answer = client.post(
        f"/orders/{ebay_order.order_no}/actions",
        data=fields,
        auth=OPERATOR,
        headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
    )

    assert answer.status_code == 403
    assert smtp.messages == []


# --- bulk actions on the order list --------------------------------------------------------


@pytest.fixture
def two_orders(
    db_url: str,
    settings: Settings,
    smtp: FaultySmtpServer,
    portals: PortalStack,
    monkeypatch: pytest.MonkeyPatch,
) -> list[Order]:
    """Two eBay orders with a DHL parcel each, no mail yet."""
    orders = shipped_orders(db_url, "ebay", 2)
    configure(portals, settings, monkeypatch)
    return orders


@pytest.fixture
def list_client(two_orders: list[Order]) -> WebClient:
    return WebClient(create_app(web_settings(get_settings())))


def bulk(
    client: WebClient, action: str, order_nos: list[str], headers: dict[str, str] = ENGLISH
) -> lxml.html.HtmlElement:
    """Ticks the orders on the list, presses the action's button, follows the 303; the result."""
    page = lxml.html.fromstring(client.get("/orders", auth=OPERATOR).text)
    [nonce] = page.xpath('//form[@id="bulk-actions"]/input[@name="nonce"]/@value')
    fields = {"nonce": [nonce], "action": [action], "order": order_nos}
    answer = client.post("/orders/bulk", data=fields, auth=OPERATOR)
    assert answer.status_code == 303, answer.text
    shown = client.get(answer.headers["location"], auth=OPERATOR, headers=headers)
    [result] = lxml.html.fromstring(shown.text).xpath('//*[@id="bulk-result"]')
    return result


def deliver(db_url: str, orders: list[Order]) -> None:
    asyncio.run(deliver_orders(db_url, order_nos=[o.order_no for o in orders], by="anna"))


def test_every_row_of_the_list_has_a_checkbox_for_the_bulk_actions(
    two_orders: list[Order], list_client: WebClient
) -> None:
    page = lxml.html.fromstring(list_client.get("/orders", auth=OPERATOR).text)

    rows = page.xpath("//table[@class='orders']/tbody/tr/@data-order")
    ticked = page.xpath('//input[@type="checkbox"][@form="bulk-actions"]/@value')
    assert rows and ticked == rows


def test_bulk_resend_sends_the_failed_mails_and_names_the_order_that_did_not_work(
    db_url: str,
    smtp: FaultySmtpServer,
    two_orders: list[Order],
    list_client: WebClient,
) -> None:
    bounce(smtp, *two_orders)
    deliver(db_url, two_orders)
    smtp.clear_faults()

    result = bulk(list_client, "resend", [*(o.order_no for o in two_orders), "NO-SUCH"])

    assert result.xpath("./p")[0].text_content() == "Resend mails: 2 done, 1 did not work."
    assert [li.text_content() for li in result.xpath(".//li")] == ["NO-SUCH: no such order."]
    assert [mail_of(db_url, o).status for o in two_orders] == ["sent", "sent"]
    assert len(smtp.messages) == 2


def test_bulk_retry_tells_the_portal_again_for_every_selected_order(
    db_url: str, two_orders: list[Order], list_client: WebClient
) -> None:
    deliver(db_url, two_orders)
    with session_scope(db_url) as session:
        session.execute(update(Confirmation).values(status="failed", error_text="timeout"))

    result = bulk(list_client, "retry", [o.order_no for o in two_orders], headers=GERMAN)

    assert result.xpath("./p")[0].text_content() == (
        "Bestätigungen wiederholen: 2 erledigt, 0 nicht erledigt."
    )
    assert [confirmation_of(db_url, o).status for o in two_orders] == ["confirmed", "confirmed"]


def test_bulk_mark_arrived_twice_marks_each_order_once(
    db_url: str, two_orders: list[Order], list_client: WebClient
) -> None:
    order_nos = [o.order_no for o in two_orders]
    bulk(list_client, "arrived", order_nos)
    again = bulk(list_client, "arrived", order_nos)

    assert again.xpath("./p")[0].text_content() == "Mark arrived: 0 done, 2 did not work."
    for order in two_orders:
        assert actions_of(db_url, order) == [("arrived", OPERATOR[0])]


def test_bulk_actions_need_the_login_and_the_lists_nonce(
    smtp: FaultySmtpServer,
    two_orders: list[Order],
    list_client: WebClient,
) -> None:
    fields = {"action": "arrived", "order": two_orders[0].order_no}

    assert list_client.post("/orders/bulk", data=fields).status_code == 401
    forged = list_client.post("/orders/bulk", data={**fields, "nonce": "x"}, auth=OPERATOR)
    assert forged.status_code == 403
    cross = list_client.post(
        "/orders/bulk", data=fields, auth=OPERATOR, headers={"sec-fetch-site": "cross-site"}
    )
    assert cross.status_code == 403
    with session_scope(get_settings().db_url) as session:
        order = session.get(Order, two_orders[0].id)
        assert order is not None and order.status != "arrived"


# --- release a held confirmation, correct or remove a parcel --------------------------------


def parcel_numbers(db_url: str, order: Order) -> list[str | None]:
    with session_scope(db_url) as session:
        rows = session.scalars(select(Parcel).where(Parcel.order_id == order.id))
        return [p.tracking_number for p in rows]


def test_release_lets_a_held_confirmation_go_with_the_operators_reason(
    db_url: str,
    smtp: FaultySmtpServer,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    bounce(smtp, ebay_order)
    act(client, ebay_order.order_no, "action-deliver")
    assert confirmation_of(db_url, ebay_order).status == "held"

    shown = act(client, ebay_order.order_no, "action-release-ebay", reason="told by phone")

    assert shown == ("Release confirmation: held confirmation released; the next run confirms it.")
    assert confirmation_of(db_url, ebay_order).status == "pending"
    with session_scope(db_url) as session:
        [release] = session.scalars(select(ConfirmationRelease)).all()
        assert (release.released_by, release.reason) == (OPERATOR[0], "told by phone")


def test_release_without_a_reason_asks_for_one(
    db_url: str,
    smtp: FaultySmtpServer,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    bounce(smtp, ebay_order)
    act(client, ebay_order.order_no, "action-deliver")

    shown = act(client, ebay_order.order_no, "action-release-ebay", reason="  ", headers=GERMAN)

    assert shown == "Bestätigung freigeben: Bitte einen Grund angeben."
    assert confirmation_of(db_url, ebay_order).status == "held"


def test_a_corrected_number_with_a_wrong_check_digit_is_shown_at_its_field(
    db_url: str,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    [old] = parcel_numbers(db_url, ebay_order)
    [new] = numbers("dhl", 1, seed=99)
    fields = {**action_form(client, ebay_order.order_no, "fix-1"), "action": "correct"}

    answer = client.post(
        f"/orders/{ebay_order.order_no}/actions",
        data={**fields, "new": wrong_check_digit(new)},
        auth=OPERATOR,
        headers=GERMAN,
    )

    assert answer.status_code == 422
    page = lxml.html.fromstring(answer.text)
    [field] = page.xpath('//input[@aria-invalid="true"]')
    assert field.get("value") == wrong_check_digit(new)  # kept for the operator to correct
    [error] = page.xpath(f'//*[@id="{field.get("aria-describedby")}"]')
    assert "Die Prüfziffer stimmt nicht" in error.text_content()
    assert parcel_numbers(db_url, ebay_order) == [old]


def test_correct_tracking_number_replaces_it_and_names_the_operator(
    db_url: str,
    smtp: FaultySmtpServer,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    act(client, ebay_order.order_no, "action-deliver")
    [new] = numbers("dhl", 1, seed=99)

    shown = act(client, ebay_order.order_no, "fix-1", action="correct", new=new)

    assert shown.startswith("Correct tracking number: tracking number corrected")
    assert parcel_numbers(db_url, ebay_order) == [canonical("dhl", new)]
    assert ("tracking_correct", OPERATOR[0]) in actions_of(db_url, ebay_order)


def test_remove_parcel_is_offered_only_while_no_portal_has_the_number(
    db_url: str,
    smtp: FaultySmtpServer,
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    shown = act(client, ebay_order.order_no, "fix-1", action="remove")

    assert shown == "Remove parcel: parcel removed."
    assert parcel_numbers(db_url, ebay_order) == []
    assert actions_of(db_url, ebay_order) == [("tracking_remove", OPERATOR[0])]


def test_a_parcel_a_portal_was_told_of_has_no_remove_button(
    ebay_order: Order,  # noqa: F811
    client: WebClient,
) -> None:
    act(client, ebay_order.order_no, "action-deliver")

    page = lxml.html.fromstring(client.get(f"/orders/{ebay_order.order_no}", auth=OPERATOR).text)
    assert page.xpath('//form[@id="fix-1"]') and not page.xpath('//*[@id="remove-1"]')


def test_resend_all_failed_mails_needs_no_selection_and_leaves_sent_mails_alone(
    db_url: str,
    smtp: FaultySmtpServer,
    two_orders: list[Order],
    list_client: WebClient,
) -> None:
    failing, fine = two_orders
    bounce(smtp, failing)
    deliver(db_url, two_orders)
    smtp.clear_faults()
    assert len(smtp.messages) == 1

    result = bulk(list_client, "resend_failed", [], headers=GERMAN)

    assert result.xpath("./p")[0].text_content() == (
        "Alle fehlgeschlagenen Mails erneut senden: 1 erledigt, 0 nicht erledigt."
    )
    assert [mail_of(db_url, o).status for o in two_orders] == ["sent", "sent"]
    assert [r for _, r, _ in smtp.messages] == [[fine.buyer_email], [failing.buyer_email]]
