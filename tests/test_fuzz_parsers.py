"""Fuzzing the parsers of portal answers: a broken answer is an error of the parser's own kind.

Amazon's processing report (ValueError), Hood's answer (HoodParseError) and Rakuten's answer
(RakutenParseError) are fed arbitrary bytes, documents built from their own element names,
and the recorded answers in tests/fixtures damaged byte by byte (cut, flipped, spliced).
Nothing else may escape, and whatever parses must turn into one ledger result per row
without raising.

Case counts: LIEFERN_FUZZ_EXAMPLES (tests/stress/fuzzing.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from connectors.amazon.mapping import parse_processing_report, report_results
from connectors.hood.mapping import HoodParcel, HoodParseError, xml_safe
from connectors.hood.mapping import parse_answer as parse_hood
from connectors.hood.mapping import result_for as hood_result
from connectors.rakuten.mapping import RakutenParseError
from connectors.rakuten.mapping import parse_answer as parse_rakuten
from connectors.rakuten.mapping import result_for as rakuten_result
from core.domain import ConfirmationStatus
from tests.stress.fuzzing import fuzz

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def recorded(portal: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((FIXTURES / portal).glob("*.xml"))]


AMAZON_TAGS = (
    "AmazonEnvelope",
    "Header",
    "Message",
    "MessageID",
    "ProcessingReport",
    "DocumentTransactionID",
    "StatusCode",
    "ProcessingSummary",
    "MessagesProcessed",
    "MessagesSuccessful",
    "MessagesWithError",
    "MessagesWithWarning",
    "Result",
    "ResultCode",
    "ResultMessageCode",
    "ResultDescription",
    "AdditionalInfo",
    "AmazonOrderID",
)
HOOD_TAGS = ("response", "orders", "order", "orderID", "status", "message", "globalError")
RAKUTEN_TAGS = ("result", "success", "errors", "error", "code", "message", "help")
TEXTS = st.text(max_size=12) | st.sampled_from(
    ["1", "-1", "0", "3", "Error", "Warning", "success", "3710", "&amp;", "<![CDATA[x]]>", " 7 "]
)


@st.composite
def built(draw: st.DrawFn, tags: tuple[str, ...]) -> bytes:
    """Elements with the parser's own names, nested and repeated at random."""

    def element(depth: int) -> str:
        name = draw(st.sampled_from(tags))
        if depth >= 4 or draw(st.booleans()):
            return f"<{name}>{draw(TEXTS)}</{name}>"
        children = "".join(element(depth + 1) for _ in range(draw(st.integers(0, 4))))
        return f"<{name}>{children}</{name}>"

    prolog = draw(st.sampled_from(["", '<?xml version="1.0" encoding="UTF-8"?>', "\ufeff"]))
    return (prolog + element(0)).encode("utf-8", "surrogatepass")


@st.composite
def damaged(draw: st.DrawFn, documents: list[bytes]) -> bytes:
    """A recorded answer, cut, with bytes flipped, inserted or spliced from another answer."""
    data = bytearray(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["cut", "flip", "insert", "splice"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "cut":
            del data[at:]
        elif action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(
                st.binary(min_size=1, max_size=8) | st.sampled_from([b"<", b"&", b"]]>"])
            )
        else:
            other = draw(st.sampled_from(documents))
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start : start + draw(st.integers(1, 200))]
    return bytes(data)


def _well_formed(documents: list[bytes]) -> list[bytes]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    kept = []
    for document in documents:
        try:
            root = etree.fromstring(document, parser)
        except etree.XMLSyntaxError:
            continue
        docinfo: Any = root.getroottree().docinfo
        if docinfo.doctype:
            continue
        kept.append(document)
    return kept


@st.composite
def reshaped(draw: st.DrawFn, documents: list[bytes], tags: tuple[str, ...]) -> bytes:
    """A recorded answer, still well-formed, with texts replaced and elements dropped,
    doubled or renamed: odd values in the right places."""
    root = etree.fromstring(draw(st.sampled_from(_well_formed(documents))))
    for _ in range(draw(st.integers(1, 5))):
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
        element = draw(st.sampled_from(elements))
        parent = element.getparent()
        action = draw(st.sampled_from(["text", "drop", "double", "rename"]))
        if action == "text" or parent is None:
            element.text = draw(TEXTS.filter(xml_safe))
        elif action == "drop":
            parent.remove(element)
        elif action == "double":
            parent.append(copy.deepcopy(element))
        else:
            element.tag = draw(st.sampled_from(tags))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def answers(tags: tuple[str, ...], portal: str) -> st.SearchStrategy[bytes]:
    documents = recorded(portal)
    return (
        st.binary(max_size=300)
        | built(tags)
        | damaged(documents)
        | reshaped(documents, tags)
        | reshaped(documents, tags)
    )


@fuzz()
@given(body=answers(AMAZON_TAGS, "amazon"), ids=st.lists(st.integers(-2, 30), max_size=6))
def test_amazon_processing_report_parser_raises_only_value_error(
    body: bytes, ids: list[int]
) -> None:
    try:
        report = parse_processing_report(body)
    except ValueError as error:
        assert str(error)
        return
    message_ids = {message_id: 100 + n for n, message_id in enumerate(ids)}
    results = report_results(report, message_ids, "50001018000")
    assert [r.confirmation_id for r in results] == list(message_ids.values())
    allowed = {
        ConfirmationStatus.CONFIRMED,
        ConfirmationStatus.REJECTED,
        ConfirmationStatus.PENDING,
    }
    assert {r.status for r in results} <= allowed


@fuzz()
@given(body=answers(HOOD_TAGS, "hood"), order_id=st.sampled_from(["1", "", "4711", "x"]))
def test_hood_answer_parser_raises_only_hood_parse_error(body: bytes, order_id: str) -> None:
    try:
        answer = parse_hood(body)
    except HoodParseError as error:
        assert str(error)
        return
    result = hood_result(HoodParcel(7, order_id, "00340434161094042557", "DHL"), answer)
    assert result.confirmation_id == 7
    if result.status is not ConfirmationStatus.CONFIRMED:
        assert result.error_text


@fuzz()
@given(body=answers(RAKUTEN_TAGS, "rakuten"))
def test_rakuten_answer_parser_raises_only_rakuten_parse_error(body: bytes) -> None:
    try:
        answer = parse_rakuten(body)
    except RakutenParseError as error:
        assert str(error)
        return
    result = rakuten_result(9, answer)
    assert result.confirmation_id == 9
    assert result.status in (ConfirmationStatus.CONFIRMED, ConfirmationStatus.REJECTED)
    if result.status is ConfirmationStatus.REJECTED:
        assert result.error_text
