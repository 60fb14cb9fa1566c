"""Property test: Rakuten's answer parser never fails with anything but RakutenParseError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.rakuten.mapping import RakutenAnswer, RakutenParseError, parse_answer

tags = st.sampled_from(["result", "success", "errors", "error", "code", "message", "help", "x"])


@st.composite
def xmlish(draw: st.DrawFn) -> bytes:
    """Documents made of the answer's own element names, nested at random, sometimes cut."""
    names = [draw(tags) for _ in range(draw(st.integers(1, 4)))]
    text = draw(st.sampled_from(["1", "-1", "0", ""]) | st.text(max_size=12))
    body = "".join(f"<{n}>" for n in names) + text + "".join(f"</{n}>" for n in reversed(names))
    raw = body.encode("utf-8", "surrogatepass")
    return raw[: draw(st.integers(0, len(raw)))]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | xmlish())
def test_parser_raises_only_its_own_error(body: bytes) -> None:
    try:
        answer = parse_answer(body)
    except RakutenParseError:
        return
    assert isinstance(answer, RakutenAnswer)
    assert not answer.success or answer.errors == ()
