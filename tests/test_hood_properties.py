"""Property tests: Hood's answer parser never fails with anything but HoodParseError, and any
XML-safe tracking code survives the request builder unchanged."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from connectors.hood.auth import md5_hex
from connectors.hood.mapping import (
    UNVERIFIED_ORDER_STATUS_SHAPE,
    HoodAnswer,
    HoodParcel,
    HoodParseError,
    build_update_order_status,
    parse_answer,
    xml_safe,
)

SHAPE = UNVERIFIED_ORDER_STATUS_SHAPE
xml_text = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="\x00"), min_size=1
).filter(lambda s: xml_safe(s) and s.strip() == s)

tags = st.sampled_from(["response", "orders", "order", "orderID", "status", "globalError", "x"])


@st.composite
def xmlish(draw: st.DrawFn) -> bytes:
    """Documents made of the answer's own element names, nested at random, sometimes cut."""
    depth = draw(st.integers(1, 4))
    names = [draw(tags) for _ in range(depth)]
    text = draw(st.text(max_size=20))
    body = "".join(f"<{n}>" for n in names) + text + "".join(f"</{n}>" for n in reversed(names))
    raw = body.encode("utf-8", "surrogatepass")
    return raw[: draw(st.integers(0, len(raw)))]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | xmlish())
def test_parser_raises_only_its_own_error(body: bytes) -> None:
    try:
        answer = parse_answer(body)
    except HoodParseError:
        return
    assert isinstance(answer, HoodAnswer)


@settings(max_examples=200, deadline=None)
@given(order_id=xml_text, tracking=xml_text, name=xml_text)
def test_any_xml_safe_text_round_trips_through_the_request(
    order_id: str, tracking: str, name: str
) -> None:
    body = build_update_order_status(
        [HoodParcel(1, order_id, tracking, None)], account_name=name, password_md5=md5_hex("p")
    )
    root = etree.fromstring(body)
    order = root.find(f"{SHAPE.orders}/{SHAPE.order}")
    assert order is not None
    assert order.findtext(SHAPE.order_id) == order_id
    assert order.findtext(SHAPE.tracking_code) == tracking
    assert len(order) == 3  # no element smuggled in
