"""The bytes of a shipping mail: what a mail program parses back out of them, and what it must not.

Every check parses the output with the standard library (`email.message_from_bytes`, policy
default), the way a receiving mail client would."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.smtp.message import address_of, build_message, clean_text, make_message_id

SENDER = "Beispiel-Shop Versand <versand@beispiel-shop.de>"
MESSAGE_ID = "<302-1234567.0123456789abcdef@beispiel-shop.de>"
EXPECTED_HEADERS = ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type"]


def build(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "sender": SENDER,
        "to_name": "Jürgen Müller",
        "to_address": "juergen.mueller@example.org",
        "subject": "Ihre Bestellung 302-1234567 ist unterwegs",
        "text": "Hallo Jürgen,\n\nIhre Ware ist unterwegs.\nGrüße\n",
        "html": "<p>Hallo J&uuml;rgen,</p>\n<p>Ihre Ware ist unterwegs. Grüße</p>\n",
        "message_id": MESSAGE_ID,
    }
    fields.update(overrides)
    return build_message(**fields)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def display_name(data: bytes) -> str:
    """The To display name, decoded as RFC 2047 says.

    Python's address parser keeps the folding space between two encoded words of a display name
    (CPython gh-128110) while its unstructured parser drops it, as RFC 2047 6.2 requires: decode
    encoded names through the latter."""
    raw = email.message_from_bytes(data, policy=email.policy.compat32)["To"]
    phrase = raw.rsplit("<", 1)[0].strip()
    if not phrase.startswith("=?"):
        return str(parse(data)["To"].addresses[0].display_name)
    return str(parse(f"Subject: {phrase}\r\n\r\n".encode("ascii"))["Subject"])


def header_block(data: bytes) -> str:
    return data.split(b"\r\n\r\n", 1)[0].decode("ascii")


# -- content parses back -------------------------------------------------------------------------


def test_headers_parse_back_with_umlauts() -> None:
    message = parse(build(subject="Ihre Bestellung ist unterwegs – Größe XL, Füße"))

    assert message["Subject"] == "Ihre Bestellung ist unterwegs – Größe XL, Füße"
    (to,) = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Jürgen Müller", "juergen.mueller@example.org")
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Beispiel-Shop Versand",
        "versand@beispiel-shop.de",
    )
    assert message["Message-ID"] == MESSAGE_ID
    assert message["MIME-Version"] == "1.0"
    assert list(message.keys()) == EXPECTED_HEADERS


def test_is_multipart_alternative_with_text_then_html() -> None:
    message = parse(build())

    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in parts)


def test_bodies_decode_to_the_given_text_with_umlauts() -> None:
    message = parse(build(text="Grüße aus Köln\nSendung: 00340434161234567890\n"))

    assert text_of(message, "plain") == "Grüße aus Köln\nSendung: 00340434161234567890\n"
    assert text_of(message, "html") == (
        "<p>Hallo J&uuml;rgen,</p>\n<p>Ihre Ware ist unterwegs. Grüße</p>\n"
    )


def test_html_is_passed_through_unaltered() -> None:
    html = (
        '<a href="https://www.dhl.de/verfolgen?piececode=00340434161234567890&amp;lang=de">'
        "Sendung verfolgen</a>   \n<script>alert('x')</script>=3D =?utf-8?q?x?=\n"
        "<p>" + "Lange Zeile ohne Umbruch, " * 60 + "</p>\n.\n..\nFrom here\n\tTab"
    )
    message = parse(build(html=html))

    assert text_of(message, "html") == html


def test_text_only_mail_is_a_single_text_part() -> None:
    message = parse(build(html=None, text="Nur Text, ohne Zeilenende"))

    assert message.get_content_type() == "text/plain"
    assert not message.is_multipart()
    assert message.get_content() == "Nur Text, ohne Zeilenende"


def test_mostly_non_latin_text_uses_base64_and_decodes_back() -> None:
    text = "Здравствуйте! Ваш заказ отправлен.\nΕυχαριστούμε πολύ.\n"
    data = build(text=text, html=None)

    assert b"Content-Transfer-Encoding: base64" in data
    assert parse(data).get_content().replace("\r\n", "\n") == text


def test_mostly_latin_text_uses_quoted_printable() -> None:
    data = build(html=None, text="Grüße aus Köln, Ihre Ware ist unterwegs.\n")

    assert b"Content-Transfer-Encoding: quoted-printable" in data
    assert b"Gr=C3=BC=C3=9Fe" in data


def test_output_is_7bit_with_crlf_lines_of_at_most_78_octets() -> None:
    data = build(
        to_name="Ä" * 150,
        subject="Sehr lange Betreffzeile mit Umlauten äöü " * 12,
        text="x" * 5000 + "\n" + "ü" * 3000,
        html="<p>" + "y" * 5000 + "</p>",
    )

    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78
    assert data.endswith(b"\r\n")


def test_long_ascii_subject_is_folded_and_reads_back_the_same() -> None:
    subject = "Your order 302-1234567-1234567 " + "and a long tail of words " * 10
    data = build(subject=subject)

    assert max(len(line) for line in header_block(data).split("\r\n")) <= 78
    assert parse(data)["Subject"] == subject.strip()


def test_given_date_is_written_with_its_offset() -> None:
    berlin_summer = timezone(timedelta(hours=2))
    when = datetime(2025, 7, 3, 14, 5, 9, tzinfo=berlin_summer)

    message = parse(build(date=when))

    assert "Thu, 03 Jul 2025 14:05:09 +0200" in header_block(build(date=when))
    assert message["Date"].datetime == when


def test_same_input_gives_the_same_bytes() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

    assert build(date=when) == build(date=when)


def test_long_display_name_is_split_into_encoded_words_at_spaces() -> None:
    name = "Bérénice-Amélie Rosemonde Dûbois-Bénard, Geschäftsführerin der Müller GmbH"
    data = build(to_name=name)

    to_lines = header_block(data).split("To: ", 1)[1].split("\r\nSubject:")[0].split("\r\n")
    assert len(to_lines) > 1
    assert all(len(word) <= 75 for line in to_lines for word in line.split())
    assert display_name(data) == name


def test_idn_domain_is_written_in_ascii_form() -> None:
    message = parse(build(to_address="kunde@münchen.de"))

    assert message["To"].addresses[0].domain == "xn--mnchen-3ya.de"


def test_sharp_s_domain_follows_idna_2008() -> None:
    message = parse(build(to_address="kunde@straße.de"))

    assert message["To"].addresses[0].domain == "xn--strae-oqa.de"


def test_custom_headers_are_added_and_encoded() -> None:
    message = parse(
        build(headers={"X-Liefern-Order": "302-1234567", "X-Shop": "Bäckerei\r\nBcc: a@b.de"})
    )

    assert message["X-Liefern-Order"] == "302-1234567"
    assert message["X-Shop"] == "Bäckerei Bcc: a@b.de"
    assert message["Bcc"] is None


@pytest.mark.parametrize("name", ["Bcc", "subject", "Content-Type", "Message-ID"])
def test_custom_headers_cannot_replace_own_headers(name: str) -> None:
    with pytest.raises(ValueError, match="headers"):
        build(headers={name: "x"})


@pytest.mark.parametrize("name", ["X-Bad Name", "X:Colon", "X-Bad\r\nBcc", ""])
def test_custom_header_names_must_be_valid(name: str) -> None:
    with pytest.raises(ValueError, match="headers"):
        build(headers={name: "x"})


# -- header injection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "evil",
    [
        "Max\r\nBcc: victim@attacker.example",
        "Max\nBcc: victim@attacker.example",
        "Max\rBcc: victim@attacker.example",
        "Max\r\n\r\n<h1>body</h1>",
        "Max\x00\x1b[31m\x7f\x85Bcc: victim@attacker.example",
        "Max\u2028Bcc: victim@attacker.example",
        'Max" <victim@attacker.example>, "Other',
    ],
)
def test_buyer_name_cannot_add_headers_or_recipients(evil: str) -> None:
    data = build(to_name=evil)
    message = parse(data)

    assert list(message.keys()) == EXPECTED_HEADERS
    assert message["To"].addresses[0].addr_spec == "juergen.mueller@example.org"
    assert display_name(data) == clean_text(evil)
    assert text_of(message, "plain").startswith("Hallo Jürgen")


@pytest.mark.parametrize(
    "evil",
    [
        "Ware unterwegs\r\nBcc: victim@attacker.example",
        "Ware unterwegs\nContent-Type: text/html",
        "Ware unterwegs\r\n\r\nInjected body",
        "Ware ünterwegs\r\nBcc: victim@attacker.example",
        "=?utf-8?q?Bcc:_x?=",
    ],
)
def test_subject_cannot_add_headers(evil: str) -> None:
    message = parse(build(subject=evil))

    assert list(message.keys()) == EXPECTED_HEADERS
    assert message["Subject"] == clean_text(evil)


def test_control_characters_in_names_become_single_spaces() -> None:
    assert clean_text("  Max\r\n\tMuster\x00mann  ") == "Max Muster mann"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to_address", "kunde@example.org\r\nBcc: victim@attacker.example"),
        ("to_address", "kunde@example.org\n"),
        ("to_address", "kunde"),
        ("to_address", "kunde@localhost"),
        ("to_address", "ku nde@example.org"),
        ("to_address", "<kunde@example.org>"),
        ("to_address", "kunde@example.org, other@example.org"),
        ("to_address", "kunde@@example.org"),
        ("to_address", "kunde.@example.org"),
        ("to_address", "kunde@-example.org"),
        ("to_address", "jürgen@example.org"),
        ("to_address", ""),
        ("sender", "Shop <versand@beispiel-shop.de>\r\nBcc: victim@attacker.example"),
        ("sender", "Shop <versand>"),
        ("sender", "a@example.org, b@example.org"),
        ("message_id", "<no-at-sign>"),
        ("message_id", "abc@example.org"),
        ("message_id", "<abc@example.org>\r\nBcc: x@y.de"),
    ],
)
def test_malformed_address_raises_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        build(**{field: value})


def test_address_of_strips_the_display_name() -> None:
    assert address_of(SENDER) == "versand@beispiel-shop.de"
    assert address_of("versand@beispiel-shop.de") == "versand@beispiel-shop.de"


# -- Message-ID ----------------------------------------------------------------------------------


def test_message_id_is_deterministic_per_key_and_domain() -> None:
    first = make_message_id("302-1234567-1234567", "beispiel-shop.de")

    assert first == make_message_id("302-1234567-1234567", "beispiel-shop.de")
    assert first != make_message_id("302-1234567-1234568", "beispiel-shop.de")
    assert first != make_message_id("302-1234567-1234567", "anderer-shop.de")
    assert re.fullmatch(r"<302-1234567-1234567\.[0-9a-f]{16}@beispiel-shop\.de>", first)


def test_message_ids_of_keys_that_look_alike_differ() -> None:
    assert make_message_id("A/1", "shop.de") != make_message_id("A 1", "shop.de")


@pytest.mark.parametrize(
    "key", ["ebay:12-34567-89012", "Ä/ö ü", "<>\r\n", "", "x" * 300, "a..b", ".-."]
)
def test_message_id_of_any_key_is_usable_in_a_mail(key: str) -> None:
    message_id = make_message_id(key, "beispiel-shop.de")

    assert parse(build(message_id=message_id))["Message-ID"] == message_id


def test_message_id_domain_must_be_a_domain() -> None:
    with pytest.raises(ValueError, match="domain"):
        make_message_id("1", "not a domain")


# -- property: whatever the buyer typed, the structure holds and the text survives ---------------


@settings(max_examples=150, deadline=None)
@given(name=st.text(max_size=120), subject=st.text(max_size=300), body=st.text(max_size=400))
def test_any_name_subject_and_text_round_trip(name: str, subject: str, body: str) -> None:
    data = build(to_name=name, subject=subject, text=body, html=body)
    message = parse(data)

    assert data.isascii()
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert list(message.keys()) == EXPECTED_HEADERS
    assert message["Subject"] == clean_text(subject)
    assert message["To"].addresses[0].addr_spec == "juergen.mueller@example.org"
    assert display_name(data) == clean_text(name)
    expected_body = body.replace("\r\n", "\n").replace("\r", "\n")
    assert text_of(message, "plain") == expected_body
    assert text_of(message, "html") == expected_body
