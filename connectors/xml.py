"""Parsing XML from outside (portal answers, feed reports, simulator requests) safely.

lxml with a hardened parser: no network, no entity expansion, no DTD loading, no huge trees;
a document that declares a DOCTYPE at all (the door for entity tricks) is refused, and so is one
above a size cap before the parser sees it.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

MAX_XML_BYTES = 32 * 1024 * 1024


class UntrustedXmlError(ValueError):
    """The document is not well-formed, empty, too large, or carries a DTD.

    `reason` is the bare complaint, `position` the (line, column) where the parser gave up."""

    def __init__(self, reason: str, position: tuple[int, int] | None = None) -> None:
        super().__init__(reason if position is None else f"{reason} (line {position[0]})")
        self.reason = reason
        self.position = position


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_untrusted_xml(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """The root element of `data`; raises UntrustedXmlError saying what is wrong."""
    if len(data) > max_bytes:
        raise UntrustedXmlError(f"XML larger than {max_bytes} bytes is refused")
    if not data.strip():
        raise UntrustedXmlError("empty, no XML at all")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as error:
        raise UntrustedXmlError(f"not well-formed XML: {error.msg}", error.position) from None
    except (etree.LxmlError, ValueError) as error:
        raise UntrustedXmlError(f"not well-formed XML: {error}") from None
    if root is None:
        raise UntrustedXmlError("empty, no XML at all")
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UntrustedXmlError("XML with a DOCTYPE (DTD) is refused")
    return root


def element_text(element: etree._Element | None) -> str:
    """All text inside `element` (children included), stripped; "" for a missing element."""
    if element is None:
        return ""
    parts = element.itertext()
    return "".join(p if isinstance(p, str) else p.decode("utf-8") for p in parts).strip()
