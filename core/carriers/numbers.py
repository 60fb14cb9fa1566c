"""Carrier lookup, tracking-number normalisation and tracking links.

`normalise_tracking_number` runs once per imported row (a million times in the import
benchmark), so everything it needs is compiled once at import time: per carrier, a dict from
cleaned length to the formats of that length. A call costs one `str.translate`, one dict
lookup, a regex full-match or two and at most one check-digit sum; only the failure paths
(which build messages) do more.

Failures are `TrackingNumberError`s with a stable `.code` for programs and a `.message`
for the operator, who usually has a spreadsheet in front of them: the messages say what the
number should look like, and name spreadsheet damage (scientific notation, lost leading zeros,
rounded digits) as such, because a re-export as text is then the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote

from core.carriers.checkdigits import CHECKS
from core.carriers.table import CARRIER_TABLE, CARRIERS, Carrier


class UnknownCarrier(ValueError):
    """A carrier name that is neither a code nor an alias in the carrier table."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        known = ", ".join(CARRIERS)
        return f"unknown carrier {self.value!r}; known carriers: {known}"


class TrackingNumberError(ValueError):
    """A tracking number that is not valid for its carrier; `.code` says why.

    Codes: empty, scientific_notation, leading_zeros_lost, bad_characters, bad_format,
    bad_check_digit.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)  # both in args, so the error pickles between processes
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- carrier lookup -------------------------------------------------------------------------

_NAME_NOISE = str.maketrans("", "", " \t\n\r\u00a0-_./")


def _name_key(name: str) -> str:
    return name.translate(_NAME_NOISE).casefold()


def _build_name_index() -> dict[str, Carrier]:
    index: dict[str, Carrier] = {}
    for carrier in CARRIER_TABLE:
        for name in (carrier.code, carrier.name, *carrier.aliases):
            key = _name_key(name)
            other = index.setdefault(key, carrier)
            if other is not carrier:
                raise ValueError(
                    f"carrier name {name!r} is claimed by {other.code} and {carrier.code}"
                )
    return index


_BY_NAME = _build_name_index()


def find_carrier(name: str) -> Carrier | None:
    """The carrier called `name` (code, display name or alias; case and spacing ignored)."""
    carrier = CARRIERS.get(name)
    if carrier is None:
        carrier = _BY_NAME.get(_name_key(name))
    return carrier


def get_carrier(name: str) -> Carrier:
    """Like `find_carrier`, but an unknown name is an error."""
    carrier = find_carrier(name)
    if carrier is None:
        raise UnknownCarrier(name)
    return carrier


# --- compiled formats -----------------------------------------------------------------------


class _Format(NamedTuple):
    fullmatch: Callable[[str], re.Match[str] | None]
    check: Callable[[str], bool] | None
    keep: tuple[int, int] | None


class _CarrierFormats(NamedTuple):
    carrier: Carrier
    by_length: dict[int, tuple[_Format, ...]]
    lengths: tuple[int, ...]  # every length some format accepts, ascending


def _compile(carrier: Carrier) -> _CarrierFormats:
    by_length: dict[int, list[_Format]] = {}
    for fmt in carrier.formats:
        check = CHECKS[fmt.check] if fmt.check is not None else None
        compiled = _Format(re.compile(fmt.pattern).fullmatch, check, fmt.keep)
        shortest, longest = fmt.lengths
        for length in range(shortest, longest + 1):
            by_length.setdefault(length, []).append(compiled)
    return _CarrierFormats(
        carrier,
        {length: tuple(formats) for length, formats in by_length.items()},
        tuple(sorted(by_length)),
    )


_FORMATS: dict[str, _CarrierFormats] = {c.code: _compile(c) for c in CARRIER_TABLE}

# --- normalisation --------------------------------------------------------------------------

_ZERO = 48  # ord("0")

# Separators people and programs put into numbers: spaces (also non-breaking and thin ones),
# hyphens and dashes, dots, slashes.
_SEPARATORS = str.maketrans(
    "", "", " \t\n\r\u00a0\u2007\u2009\u202f-\u2010\u2011\u2012\u2013\u2014./"
)

# What a spreadsheet shows for a long number: 3,40434E+17 / 3.40434E+17 / 3.40434e17 / 3E+17.
# A mantissa with a decimal separator, or an exponent with a sign, tells it from a code that
# merely contains an E (a GLS Track-ID can be 12E45678).
_SCIENTIFIC = re.compile(r"\s*[0-9]+(?:[.,][0-9]+[eE]\+?|[eE]\+)[0-9]{1,3}\s*")

# At most this many zeros are assumed lost in front of a number (more is no longer a likely
# spreadsheet accident, but a different number).
_MAX_LOST_ZEROS = 3

# A spreadsheet keeps 15 significant digits and fills the rest with zeros.
_SPREADSHEET_DIGITS = 15


def _accepts(formats: tuple[_Format, ...], number: str) -> str | None:
    """The canonical form of `number` if one of `formats` accepts it, else None."""
    for fmt in formats:
        if fmt.fullmatch(number) and (fmt.check is None or fmt.check(number)):
            return number if fmt.keep is None else number[fmt.keep[0] : fmt.keep[1]]
    return None


def normalise_tracking_number(carrier: str, raw: str) -> str:
    """The number as stored and sent to portals, or TrackingNumberError saying what is wrong.

    Spaces, hyphens, dots and slashes are removed and letters upper-cased; then the number must
    match one of the carrier's formats, check digit included. Spellings of one parcel that
    carry extra characters (DHL's `00` + SSCC, DPD's check character or full barcode) come
    back as the parcel's canonical number.
    """
    compiled = _FORMATS.get(carrier)
    if compiled is None:
        compiled = _FORMATS[get_carrier(carrier).code]

    if ("E" in raw or "e" in raw) and _SCIENTIFIC.fullmatch(raw):
        raise TrackingNumberError(
            "scientific_notation",
            f"The number was converted by a spreadsheet to {raw.strip()}, which has lost its "
            "digits; re-export the column as text and import it again.",
        )

    cleaned = raw.translate(_SEPARATORS)
    if not cleaned.isascii():  # before upper(): "ß".upper() would sneak in as "SS"
        raise _bad_characters(compiled.carrier, raw, cleaned)
    number = cleaned.upper()
    if not number:
        raise TrackingNumberError("empty", f"The {compiled.carrier.name} tracking number is empty.")

    formats = compiled.by_length.get(len(number))
    if formats is not None:
        shaped = False
        for fmt in formats:
            if fmt.fullmatch(number):
                if fmt.check is None or fmt.check(number):
                    return number if fmt.keep is None else number[fmt.keep[0] : fmt.keep[1]]
                shaped = True
        if shaped:
            raise _bad_check_digit(compiled.carrier, number)

    if not number.isalnum():
        raise _bad_characters(compiled.carrier, raw, number)
    if number.isdigit():
        lost = _lost_leading_zeros(compiled, number)
        if lost is not None:
            raise lost
    expected = _join_or([fmt.description for fmt in compiled.carrier.formats])
    raise TrackingNumberError(
        "bad_format",
        f"{number} is not a valid {compiled.carrier.name} tracking number: expected {expected}.",
    )


def _bad_check_digit(carrier: Carrier, number: str) -> TrackingNumberError:
    message = (
        f"The check digit of {carrier.name} number {number} does not fit the other digits; "
        "look for a typo or a swapped digit."
    )
    if len(number) > _SPREADSHEET_DIGITS and number.isdigit() and number.endswith("00"):
        message += (
            " If the number went through a spreadsheet, its last digits may have been "
            "rounded to zeros; re-export the column as text."
        )
    return TrackingNumberError("bad_check_digit", message)


def _bad_characters(carrier: Carrier, raw: str, cleaned: str) -> TrackingNumberError:
    bad = "".join(sorted({char for char in cleaned if not (char.isascii() and char.isalnum())}))
    return TrackingNumberError(
        "bad_characters",
        f"The {carrier.name} number {raw.strip()!r} contains {bad!r}; tracking numbers consist "
        "of letters A-Z and digits only (spaces, hyphens, dots and slashes are ignored).",
    )


def _lost_leading_zeros(compiled: _CarrierFormats, number: str) -> TrackingNumberError | None:
    """An error if `number` becomes valid with a few zeros in front, as before a spreadsheet."""
    for length in compiled.lengths:
        missing = length - len(number)
        if not 0 < missing <= _MAX_LOST_ZEROS:
            continue
        padded = "0" * missing + number
        if _accepts(compiled.by_length[length], padded) is not None:
            zeros = "zero" if missing == 1 else "zeros"
            return TrackingNumberError(
                "leading_zeros_lost",
                f"The {compiled.carrier.name} number {number} has lost its leading {zeros}, "
                f"probably in a spreadsheet (it is likely {padded}); re-export the column as "
                "text and import it again.",
            )
    return None


def _join_or(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def detect_carriers(number: str) -> list[str]:
    """Codes of the carriers whose formats accept `number`, in table order.

    A hint for the operator only: many formats overlap (every 14-digit Hermes number is also
    a valid DPD number, 12 digits fit DHL, GLS and FedEx alike), so the carrier named by the
    import source always wins. `other`, which accepts anything, is never part of the answer.
    """
    found = []
    for code, compiled in _FORMATS.items():
        if code == "other":
            continue
        try:
            normalise_tracking_number(code, number)
        except TrackingNumberError:
            continue
        found.append(compiled.carrier.code)
    return found


def tracking_url(carrier: str, number: str, language: str) -> str:
    """The carrier's tracking page for `number`: German for "de", English otherwise.

    An empty string when the carrier has no tracking page (`other`).
    """
    found = CARRIERS.get(carrier) or get_carrier(carrier)
    german = language[:2].lower() == "de"
    template = found.tracking_url_de if german else found.tracking_url_en
    if not template:
        return ""
    return template.replace("{number}", quote(number, safe=""))


# --- many numbers at once -------------------------------------------------------------------
#
# An import validates a million numbers; one call per number costs ~3 µs. Numbers of one
# carrier and one length are stacked into a byte matrix (one row per number), and shape and
# check digit are tested column-wise with numpy. Only numbers that are already canonical
# (digits and capitals, no separators) and accepted by a format whose pattern is a plain
# sequence of character classes take this path; every other number, and every number a
# format declines, goes through `normalise_tracking_number` one by one, so the results, errors
# included, are exactly the one-by-one results.

_SIMPLE_TOKEN = re.compile(r"(\[(?:0-9|A-Z)+\]|[0-9A-Z])(?:\{(\d+)(?:,(\d+))?\})?")


def _class_bytes(token: str) -> frozenset[int]:
    if len(token) == 1:
        return frozenset({ord(token)})
    allowed: set[int] = set()
    if "0-9" in token:
        allowed.update(range(48, 58))
    if "A-Z" in token:
        allowed.update(range(65, 91))
    return frozenset(allowed)


def _positions(pattern: str, length: int) -> list[frozenset[int]] | None:
    """The bytes allowed at each position of a `length`-long match of `pattern`, or None when
    the pattern is not a plain sequence of classes with at most one open repetition."""
    tokens: list[tuple[frozenset[int], int, int]] = []
    at = 0
    while at < len(pattern):
        match = _SIMPLE_TOKEN.match(pattern, at)
        if match is None:
            return None
        low = int(match.group(2) or 1)
        high = int(match.group(3) or low)
        tokens.append((_class_bytes(match.group(1)), low, high))
        at = match.end()
    open_ = [i for i, (_, low, high) in enumerate(tokens) if low != high]
    fixed = sum(low for _, low, high in tokens if low == high)
    if len(open_) > 1:
        return None
    counts = [low for _, low, _high in tokens]
    if open_:
        i = open_[0]
        counts[i] = length - fixed
        if not tokens[i][1] <= counts[i] <= tokens[i][2]:
            return None
    elif fixed != length:
        return None
    return [
        allowed for (allowed, _, _), count in zip(tokens, counts, strict=True) for _ in range(count)
    ]


def _digit_values(matrix: Any) -> Any:
    return matrix.astype("int64") - _ZERO


def _right_weights(np: Any, size: int, odd: int, even: int) -> Any:
    """Weights `odd, even, odd, …` counted from the rightmost of `size` columns."""
    weights = np.full(size, even, dtype="int64")
    weights[size - 1 :: -2] = odd
    return weights


def _vector_checks() -> dict[str, Callable[[Any, Any], Any]]:
    """Check-digit rules over a matrix of ASCII codes (one number per row) -> bool per row.
    Each mirrors its one-by-one rule in checkdigits.py (rows already have the format's shape)."""

    def gs1(np: Any, m: Any) -> Any:
        v = _digit_values(m)
        total = v[:, :-1] @ _right_weights(np, m.shape[1] - 1, 3, 1)
        return -total % 10 == v[:, -1]

    def gls(np: Any, m: Any) -> Any:
        v = _digit_values(m)
        total = v[:, :-1] @ _right_weights(np, m.shape[1] - 1, 3, 1) + 1
        return -total % 10 == v[:, -1]

    def identcode(np: Any, m: Any) -> Any:
        v = _digit_values(m)
        weights = np.where(np.arange(m.shape[1] - 1) % 2 == 0, 4, 9)
        return -(v[:, :-1] @ weights) % 10 == v[:, -1]

    def mod7(np: Any, m: Any) -> Any:
        v = _digit_values(m)
        rest = np.zeros(m.shape[0], dtype="int64")
        for column in range(m.shape[1] - 1):
            rest = (rest * 10 + v[:, column]) % 7
        return rest == v[:, -1]

    def s10(np: Any, m: Any) -> Any:
        v = _digit_values(m)
        check = 11 - (v[:, 2:10] @ np.array((8, 6, 4, 2, 3, 5, 9, 7))) % 11
        check = np.where(check == 10, 0, np.where(check == 11, 5, check))
        return check == v[:, 10]

    def mod37_36(np: Any, m: Any) -> Any:
        codes = m.astype("int64")
        values = np.where(codes >= 65, codes - 55, codes - _ZERO)
        product = np.full(m.shape[0], 36, dtype="int64")
        for column in range(m.shape[1] - 1):
            total = (product + values[:, column]) % 36
            total = np.where(total == 0, 36, total)
            product = total * 2 % 37
        return (37 - product) % 36 == values[:, -1]

    def ups(np: Any, m: Any) -> Any:
        codes = m[:, 2:17].astype("int64")
        values = np.where(codes >= 65, (codes - 63) % 10, codes - _ZERO)
        total = values[:, 0::2].sum(axis=1) + 2 * values[:, 1::2].sum(axis=1)
        return -total % 10 == m[:, 17].astype("int64") - _ZERO

    def fedex_12(np: Any, m: Any) -> Any:
        v = _digit_values(m)
        weights = np.resize(np.array((3, 1, 7)), m.shape[1] - 1)
        return (v[:, :-1] @ weights) % 11 % 10 == v[:, -1]

    return {
        "gs1_mod10": gs1,
        "gls": gls,
        "dhl_identcode": identcode,
        "mod7": mod7,
        "upu_s10": s10,
        "mod37_36": mod37_36,
        "ups": ups,
        "fedex_12": fedex_12,
    }


_VECTOR_CHECKS = _vector_checks()


class _VectorFormat(NamedTuple):
    allowed: Any  # bool matrix (positions x 256): byte allowed at position
    check: Callable[[Any, Any], Any] | None
    keep: tuple[int, int] | None


def _vector_formats(code: str, length: int) -> list[_VectorFormat | None]:
    """The carrier's formats of this length in table order; None where one cannot be
    vectorised (from there on, the one-by-one path decides)."""
    import numpy as np

    result: list[_VectorFormat | None] = []
    for fmt in _FORMATS[code].carrier.formats:
        if not fmt.lengths[0] <= length <= fmt.lengths[1]:
            continue
        positions = _positions(fmt.pattern, length)
        if positions is None or (fmt.check is not None and fmt.check not in _VECTOR_CHECKS):
            result.append(None)
            continue
        allowed = np.zeros((length, 256), dtype=bool)
        for position, codes in enumerate(positions):
            allowed[position, list(codes)] = True
        check = _VECTOR_CHECKS[fmt.check] if fmt.check is not None else None
        result.append(_VectorFormat(allowed, check, fmt.keep))
    return result


_VECTOR_CACHE: dict[tuple[str, int], list[_VectorFormat | None]] = {}


def _accept_many(code: str, length: int, numbers: list[str]) -> list[str | None]:
    """Canonical forms of same-length numbers where a vectorised format accepts them."""
    import numpy as np

    formats = _VECTOR_CACHE.get((code, length))
    if formats is None:
        formats = _VECTOR_CACHE[(code, length)] = _vector_formats(code, length)
    out: list[str | None] = [None] * len(numbers)
    # one byte per character ("?" for anything outside ASCII), one row per number
    raw = "".join(numbers).encode("ascii", errors="replace")
    matrix = np.frombuffer(raw, dtype=np.uint8).reshape(len(numbers), length)
    undecided = np.arange(len(numbers))
    for fmt in formats:
        if fmt is None or undecided.size == 0:
            break
        rows = matrix[undecided]
        shaped = np.ones(undecided.size, dtype=bool)
        for position in range(length):
            shaped &= fmt.allowed[position, rows[:, position]]
        accepted = shaped.copy()
        if fmt.check is not None and shaped.any():
            accepted[shaped] = fmt.check(np, rows[shaped])
        for index in undecided[accepted].tolist():
            number = numbers[index]
            out[index] = number if fmt.keep is None else number[fmt.keep[0] : fmt.keep[1]]
        undecided = undecided[~accepted]
    return out


def normalise_tracking_numbers(
    carrier: str, raws: Sequence[str]
) -> list[str | TrackingNumberError]:
    """`normalise_tracking_number` over many numbers of one carrier: each item is the canonical
    number or the TrackingNumberError that the one-by-one call raises, in the order given."""
    code = _FORMATS[carrier].carrier.code if carrier in _FORMATS else get_carrier(carrier).code
    results: list[str | TrackingNumberError | None] = [None] * len(raws)
    by_length: dict[int, list[int]] = {}
    for index, raw in enumerate(raws):
        by_length.setdefault(len(raw), []).append(index)
    for length, indexes in by_length.items():
        if length == 0 or len(indexes) < _VECTOR_MIN_GROUP:
            continue
        accepted = _accept_many(code, length, [raws[i] for i in indexes])
        for index, number in zip(indexes, accepted, strict=True):
            results[index] = number
    for index, result in enumerate(results):
        if result is None:
            try:
                results[index] = normalise_tracking_number(code, raws[index])
            except TrackingNumberError as error:
                results[index] = error
    return results  # type: ignore[return-value]  # no None is left


# below this many numbers of one length the one-by-one path is as fast
_VECTOR_MIN_GROUP = 32
