"""Buyer data in shipping mails: escaped in HTML, inert in headers, never a second recipient.

Names, order numbers, item titles and addresses come from marketplaces and order files, i.e.
from strangers. Whatever they hold, the mail keeps its fixed set of header lines with one
recipient, the HTML part keeps the structure of the template (no element, attribute or link
smuggled in), template syntax in data is shown, not run, and an address that is not exactly
one address is refused before anything is sent.
"""

from __future__ import annotations

import email
import re
from datetime import date
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.policy import compat32, default
from email.utils import getaddresses
from pathlib import Path
from typing import cast

import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml.html import HtmlElement
from pydantic import SecretStr

from connectors.smtp.message import clean_text
from core.accounts import Accounts
from core.settings import Settings
from db.models import Order, OrderItem, Parcel
from tasks.mails import MailComposer
from tests.stress.fuzzing import fuzz

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    '<a href="javascript:alert(1)">klick</a>',
    "Jürgen\r\nBcc: evil@example.com",
    "Eve\nSubject: Gewinn!\n\n<h1>body</h1>",
    "Mallory\u2028To: evil@example.com",
    "=?utf-8?b?PHNjcmlwdD4=?=",
    "{{ 7*7 }}{% raw %}",
    'O\'Brien "Boss" \\ <x@y.de>',
    "a\x00b\x1b[31mc",
    "]]><!--",
]
TEXT = st.text(max_size=80) | st.sampled_from(HOSTILE)
HEADER_LINE = re.compile(rb"^[!-9;-~]+:", re.MULTILINE)
EXPECTED_HEADERS = [
    "Date",
    "From",
    "To",
    "Subject",
    "Message-ID",
    "X-Liefern-Order",
    "MIME-Version",
    "Content-Type",
]


@pytest.fixture(scope="module")
def composer(tmp_path_factory: pytest.TempPathFactory) -> MailComposer:
    home = tmp_path_factory.mktemp("mail-home")
    settings = Settings(home=home, secret_key=SecretStr("mail-test-secret-0123456789abcd"))
    return MailComposer(settings, Accounts.load(Path(home) / "accounts.toml"), "dhl")


def order(
    *,
    name: str = "Erika Mustermann",
    order_no: str = "AU100001",
    title: str = "Kaffeebohnen",
    address: str = "erika@example.de",
    language: str = "de",
) -> Order:
    return Order(
        id=42,
        order_no=order_no,
        portal="shop",
        portal_account="webshop",
        portal_order_id="WEB-1",
        buyer_name=name,
        buyer_email=address,
        language=language,
        country="DE",
        items=[OrderItem(item_id="L1", sku="KAF-1", title=title, quantity=1)],
        parcels=[
            Parcel(carrier="dhl", tracking_number="340434161094042557", ship_date=date.today())
        ],
    )


def compose(composer: MailComposer, **values: str) -> tuple[bytes, EmailMessage]:
    mail, _subject = composer.compose(order(**values), "1")
    parsed = email.message_from_bytes(mail.data, policy=default)
    assert isinstance(parsed, EmailMessage)
    return mail.data, parsed


def html_shape(message: EmailMessage) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every element of the HTML part with its attributes: the template's structure."""
    part = message.get_body(("html",))
    assert part is not None
    root = lxml.html.fromstring(part.get_content())
    return [
        (str(e.tag), tuple(sorted((str(k), str(v)) for k, v in e.attrib.items())))
        for e in root.iter()
    ]


@fuzz(0.5)
@given(name=TEXT, order_no=TEXT.filter(lambda s: s.strip()), title=TEXT.filter(lambda s: s.strip()))
def test_buyer_data_cannot_add_header_lines_or_recipients(
    composer: MailComposer, name: str, order_no: str, title: str
) -> None:
    data, message = compose(composer, name=name, order_no=order_no, title=title)
    head = data.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0].decode() for line in HEADER_LINE.findall(head)]
    assert names == EXPECTED_HEADERS
    [to] = message["To"].addresses
    assert to.addr_spec == "erika@example.de"
    assert message["Bcc"] is None and message["Cc"] is None
    # the display name as an RFC 2047 reader sees it (email's own parser adds a space
    # between some adjacent encoded words)
    raw_to = email.message_from_bytes(data, policy=compat32)["To"]
    [(display, address)] = getaddresses([raw_to])
    assert address == "erika@example.de"
    assert str(make_header(decode_header(display))) == clean_text(name)


@fuzz(0.5)
@given(name=TEXT, title=TEXT, language=st.sampled_from(["de", "en"]))
def test_buyer_data_cannot_change_the_html_part(
    composer: MailComposer, name: str, title: str, language: str
) -> None:
    _, benign = compose(composer, language=language)
    _, hostile = compose(composer, name=name, title=title, language=language)
    assert html_shape(hostile) == html_shape(benign)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_show_as_text_in_both_parts(composer: MailComposer, name: str) -> None:
    _, message = compose(composer, name=name)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    shown = cast(HtmlElement, lxml.html.fromstring(html.get_content())).text_content()
    for word in re.split(r"[^\w<>=\"'{}%*()/!.;:\[\]-]+", name):
        assert word in shown and word in text.get_content(), word
    assert "49" not in shown and "49" not in text.get_content()  # {{ 7*7 }} is not run


@fuzz(0.5)
@given(
    address=st.text(max_size=60)
    | st.sampled_from(
        [
            "erika@example.de\r\nBcc: evil@example.com",
            "erika@example.de, evil@example.com",
            "Erika <erika@example.de>",
            "erika@example.de\n",
            "<erika@example.de>",
            "erika@exämple.de",
            '"evil@example.com"@example.de',
            "erika@example.de\u2028",
        ]
    )
)
def test_an_address_is_one_checked_address_or_refused(composer: MailComposer, address: str) -> None:
    try:
        mail, _ = composer.compose(order(address=address), "1")
    except ValueError:
        return
    [recipient] = mail.recipients
    assert "\r" not in recipient and "\n" not in recipient and "," not in recipient
    assert re.fullmatch(r"[^@\s<>,]+@[A-Za-z0-9.-]+", recipient), recipient
    message = email.message_from_bytes(mail.data, policy=default)
    [to] = message["To"].addresses
    assert to.addr_spec == recipient


def test_an_international_domain_goes_out_in_its_ascii_form_in_envelope_and_header(
    composer: MailComposer,
) -> None:
    mail, _ = composer.compose(order(address="erika@straße.de"), "1")
    message = email.message_from_bytes(mail.data, policy=default)
    assert mail.recipients == ("erika@xn--strae-oqa.de",)
    assert message["To"].addresses[0].addr_spec == "erika@xn--strae-oqa.de"
