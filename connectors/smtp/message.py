"""Build the bytes of one shipping mail, fast and without header injection.

Why not `email.message.EmailMessage`: building each mail through it capped a sender near
200 mails/s on the reference machine; the bulk target is 1,500 mails/s including rendering.
The shape of a shipping mail is fixed (multipart/alternative with a text and an HTML part, or
text only), so the bytes are assembled here directly:

* bodies are UTF-8, quoted-printable (base64 when that is shorter), CRLF line endings, so no line
  is longer than 76 octets and the message is 7-bit clean (no 8BITMIME or SMTPUTF8 needed);
* no header value is pasted in raw: control characters (CR, LF, NUL, TAB, U+2028 ...) in names
  and subjects become spaces, so they cannot start a new header; non-ASCII text becomes RFC 2047
  encoded words (`email.base64mime`); ASCII display names are quoted by `email.utils.formataddr`;
  long values are folded;
* addresses must look like addresses (`ValueError` naming the field otherwise); IDN domains are
  converted to their ASCII form by IDNA 2008/UTS 46 (`idna`, as DENIC does: "straße.de" is
  xn--strae-oqa.de, not strasse.de as the stdlib's IDNA 2003 codec would say); non-ASCII local
  parts are refused (they would need SMTPUTF8, which many relays lack).

The multipart boundary starts with "=_", a sequence neither quoted-printable nor base64 output can
contain, so it can never collide with a body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from email import base64mime
from email.utils import format_datetime, formataddr, getaddresses
from functools import lru_cache

import idna

CRLF = "\r\n"
_MAX_LINE = 78  # RFC 5322 2.1.1 "SHOULD"; the hard limit of 998 is checked separately
_MAX_WORD = 75  # RFC 2047 2: an encoded word is at most 75 characters
_WORD_OVERHEAD = len("=?utf-8?b??=")

# C0 and C1 controls (CR, LF, TAB, NUL, ESC, NEL ...) and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*\Z")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+\Z")
_MSGID_PART = r"[\x21-\x3b\x3d\x3f-\x7e]+"  # printable ASCII without space, "<" and ">"
_MESSAGE_ID = re.compile(rf"<{_MSGID_PART}@{_MSGID_PART}>\Z")
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+\Z")
_KEY_SAFE = re.compile(r"[^A-Za-z0-9_-]+")

# Headers build_message writes itself; callers may not add a second copy (or a Bcc).
_RESERVED_HEADERS = frozenset(
    {
        "date",
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)


def clean_text(value: str) -> str:
    """One line of header text: control characters become spaces, any run of whitespace
    (including no-break and other Unicode spaces, which mail clients collapse anyway) one space."""
    return " ".join(_CONTROL.sub(" ", value).split())


def _ascii_domain(domain: str, field: str, original: str) -> str:
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as error:
            raise ValueError(f"{field}: {original!r} has an invalid domain") from error
    if len(domain) > 253 or not _DOMAIN.match(domain):
        raise ValueError(f"{field}: {original!r} is not a valid e-mail address")
    return domain


def check_address(value: str, field: str) -> str:
    """A bare address (`local@domain`) in its ASCII form, or `ValueError` naming `field`."""
    if _CONTROL.search(value):
        raise ValueError(f"{field}: {value!r} contains control characters (CR, LF ...)")
    local, at, domain = value.rpartition("@")
    if not at or not local or len(local) > 64 or not _LOCAL_PART.match(local):
        raise ValueError(f"{field}: {value!r} is not a valid e-mail address")
    address = f"{local}@{_ascii_domain(domain, field, value)}"
    if len(address) > 254:
        raise ValueError(f"{field}: {value!r} is too long for an e-mail address")
    return address


def parse_mailbox(value: str, field: str) -> tuple[str, str]:
    """Split `Name <addr>` (or a bare address) into (cleaned name, checked ASCII address)."""
    if _CONTROL.search(value):
        raise ValueError(f"{field}: {value!r} contains control characters (CR, LF ...)")
    pairs = getaddresses([value])
    if len(pairs) != 1 or not pairs[0][1]:
        raise ValueError(f"{field}: {value!r} is not exactly one e-mail address")
    name, address = pairs[0]
    return clean_text(name), check_address(address, field)


def address_of(value: str, field: str = "sender") -> str:
    """The envelope address of `Name <addr>` or `addr` (what SMTP `MAIL FROM` needs)."""
    return parse_mailbox(value, field)[1]


def make_message_id(key: str, domain: str) -> str:
    """A Message-ID that depends only on (`key`, `domain`): a resend carries the same id.

    The readable part is the key reduced to safe characters; the hash keeps keys apart that
    reduce to the same text ("A/1" and "A 1")."""
    domain = _ascii_domain(domain, "domain", domain)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    readable = _KEY_SAFE.sub("-", key).strip("-")[:64]
    local = f"{readable}.{digest}" if readable else digest
    return f"<{local}@{domain}>"


def _utf8_chunks(text: str, first: int, rest: int) -> list[bytes]:
    """Split `text` into UTF-8 pieces of at most `first`, then `rest` bytes, on character edges."""
    raw = text.encode("utf-8")
    chunks: list[bytes] = []
    limit = first
    while len(raw) > limit:
        cut = limit
        while raw[cut] & 0xC0 == 0x80:  # never split inside a multi-byte character
            cut -= 1
        space = raw.rfind(b" ", 0, cut)
        if space >= cut // 2:  # end the word after a space: readers that (wrongly) keep the
            cut = space + 1  # fold between encoded words then add a space, not split a word
        chunks.append(raw[:cut])
        raw = raw[cut:]
        limit = rest
    chunks.append(raw)
    return chunks


def _payload_budget(line_room: int) -> int:
    """UTF-8 bytes that fit in one B-encoded word of at most `line_room` characters."""
    room = min(_MAX_WORD, line_room) - _WORD_OVERHEAD
    return max(6, room // 4 * 3)  # 6 bytes always hold a whole character (at most 4)


def _encoded_words(text: str, used: int) -> str:
    """RFC 2047 B-encoded words, folded with CRLF SP; `used` = columns taken on the first line."""
    chunks = _utf8_chunks(text, _payload_budget(76 - used), _payload_budget(75))
    return (CRLF + " ").join(base64mime.header_encode(chunk, charset="utf-8") for chunk in chunks)


def _fold_ascii(text: str, used: int) -> str | None:
    """Fold plain ASCII at spaces; None when a single word would overflow the hard limit."""
    words = text.split(" ")
    if any(len(word) > 900 for word in words):
        return None
    lines = [words[0]]
    width = used + len(words[0])
    for word in words[1:]:
        if width + 1 + len(word) > _MAX_LINE:
            lines.append(word)
            width = 1 + len(word)  # the folded line starts with the space
        else:
            lines[-1] += " " + word
            width += 1 + len(word)
    return (CRLF + " ").join(lines)


def _unstructured(name: str, value: str) -> str:
    """`Name: value` for free text (Subject, custom headers), folded and encoded as needed."""
    text = clean_text(value)
    used = len(name) + 2
    if text.isascii() and "=?" not in text:
        if used + len(text) <= _MAX_LINE:
            return f"{name}: {text}"
        folded = _fold_ascii(text, used)
        if folded is not None:
            return f"{name}: {folded}"
    return f"{name}: {_encoded_words(text, used)}"


def _mailbox(name: str, display: str, address: str) -> str:
    """`To: Name <addr>` with the name quoted (ASCII) or encoded (otherwise)."""
    if not display:
        return f"{name}: {address}"
    used = len(name) + 2
    if display.isascii() and "=?" not in display:
        line = formataddr((display, address))
        if used + len(line) <= _MAX_LINE:
            return f"{name}: {line}"
    words = _encoded_words(display, used)
    last_line = words.rsplit(CRLF, 1)[-1]
    gap = " " if len(last_line) + 3 + len(address) <= _MAX_LINE else CRLF + " "
    return f"{name}: {words}{gap}<{address}>"


@lru_cache(maxsize=64)
def _from_header(sender: str) -> str:
    """The From line; cached because a bulk run uses one sender for every mail."""
    return _mailbox("From", *parse_mailbox(sender, "sender"))


def _encode_body(text: str) -> tuple[str, bytes]:
    """(transfer encoding, encoded bytes with CRLF lines) for one UTF-8 text part."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    raw = text.replace("\n", CRLF).encode("utf-8")
    encoded = binascii.b2a_qp(raw, istext=True)
    if b"\n" not in raw:  # b2a_qp uses LF soft breaks unless the input already has CRLF
        encoded = encoded.replace(b"\n", b"\r\n")
    base64_size = (len(raw) + 2) // 3 * 4
    if raw.isascii() or len(encoded) <= base64_size + base64_size // 38:
        if not encoded.endswith(b"\r\n"):
            encoded += b"=\r\n"  # a soft break: the part ends with CRLF, the text stays as given
        return "quoted-printable", encoded
    flat = base64.b64encode(raw)
    lines = [flat[i : i + 76] for i in range(0, len(flat), 76)]
    return "base64", b"\r\n".join(lines) + b"\r\n"


def _part_head(subtype: str, encoding: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: {encoding}{CRLF}"
    ).encode("ascii")


def _custom_headers(headers: Mapping[str, str]) -> list[str]:
    lines: list[str] = []
    for name, value in headers.items():
        if not _FIELD_NAME.match(name):
            raise ValueError(f"headers: {name!r} is not a valid header name")
        if name.lower() in _RESERVED_HEADERS:
            raise ValueError(f"headers: {name!r} is set by build_message itself")
        lines.append(_unstructured(name, value))
    return lines


def build_message(
    *,
    sender: str,
    to_name: str,
    to_address: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The complete RFC 5322 message (CRLF, 7-bit) for one recipient.

    `sender` may carry a display name ("Shop <versand@shop.de>"). `html` is used as given: escaping
    buyer data in it is the template's job. A naive `date` is taken as local time."""
    address = check_address(to_address, "to_address")
    if not _MESSAGE_ID.match(message_id):
        raise ValueError(f"message_id: {message_id!r} is not of the form <local@domain>")
    when = date if date is not None and date.tzinfo is not None else None
    if when is None:  # naive or missing: local time, written with the local offset
        when = (date or datetime.now()).astimezone()

    head = [
        f"Date: {format_datetime(when)}",
        _from_header(sender),
        _mailbox("To", clean_text(to_name), address),
        _unstructured("Subject", subject),
        f"Message-ID: {message_id}",
        *_custom_headers(headers or {}),
        "MIME-Version: 1.0",
    ]
    for line in head:
        if any(len(part) > 998 for part in line.split(CRLF)):
            raise ValueError(f"header {line.split(':', 1)[0]} does not fit into 998 octets")

    text_encoding, text_body = _encode_body(text)
    if html is None:
        head.append('Content-Type: text/plain; charset="utf-8"')
        head.append(f"Content-Transfer-Encoding: {text_encoding}")
        return (CRLF.join(head) + CRLF + CRLF).encode("ascii") + text_body

    boundary = "=_" + hashlib.sha256(message_id.encode("ascii")).hexdigest()[:24]
    html_encoding, html_body = _encode_body(html)
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    delimiter = f"{CRLF}--{boundary}{CRLF}".encode("ascii")
    return b"".join(
        (
            (CRLF.join(head) + CRLF + CRLF).encode("ascii"),
            f"--{boundary}{CRLF}".encode("ascii"),
            _part_head("plain", text_encoding),
            b"\r\n",
            text_body,
            delimiter,
            _part_head("html", html_encoding),
            b"\r\n",
            html_body,
            f"{CRLF}--{boundary}--{CRLF}".encode("ascii"),
        )
    )
