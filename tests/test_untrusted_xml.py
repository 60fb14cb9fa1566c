"""One hardened parser for XML from outside: no DTD, no entities, no network, a size cap."""

from __future__ import annotations

import pytest

from connectors.xml import UntrustedXmlError, element_text, parse_untrusted_xml


def test_well_formed_xml_parses() -> None:
    root = parse_untrusted_xml(b"<result><success>1</success></result>")
    assert element_text(root.find("success")) == "1"


def test_entity_expansion_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><r>&b;</r>'
    )
    with pytest.raises(UntrustedXmlError, match="DOCTYPE"):
        parse_untrusted_xml(bomb)


def test_external_entity_is_never_fetched() -> None:
    xxe = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(UntrustedXmlError):
        parse_untrusted_xml(xxe)


def test_a_document_above_the_size_cap_is_refused_before_parsing() -> None:
    with pytest.raises(UntrustedXmlError, match="larger than 16 bytes"):
        parse_untrusted_xml(b"<r>" + b"x" * 100 + b"</r>", max_bytes=16)


@pytest.mark.parametrize(("data", "words"), [(b"", "empty"), (b"<r><open></r>", "well-formed")])
def test_empty_or_broken_xml_says_what_is_wrong(data: bytes, words: str) -> None:
    with pytest.raises(UntrustedXmlError, match=words):
        parse_untrusted_xml(data)
