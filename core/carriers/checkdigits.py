"""Check-digit rules of the carriers' tracking numbers, as pure functions.

Each rule comes as a pair: `*_check_digit(body)` computes the check digit (or character) for a
body, and `is_valid_*(number)` tells whether a whole cleaned number carries the right one.
The validators assume the number already has its format's shape (the caller matched the
format's pattern first); they never raise on well-shaped input.

They run a million times in an import, so sums are taken over byte slices (C speed) instead of
per-digit Python loops wherever the weights allow it: for ASCII digits `sum(b) - 48 * len(b)`
is the sum of the digit values.

`CHECKS` maps the rule names used in `table.py` to the validators.
"""

from __future__ import annotations

from collections.abc import Callable

_ZERO = 48  # ord("0")
_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALPHANUMERIC_VALUE = {char: value for value, char in enumerate(_ALPHANUMERIC)}


def _digit_sum(digits: bytes) -> int:
    return sum(digits) - _ZERO * len(digits)


# --- GS1 mod 10: SSCC (DHL Paket), Hermes 14, FedEx Ground 15 -------------------------------


def gs1_check_digit(body: str) -> int:
    """GS1 mod 10: weights 3,1,3,… from the rightmost body digit; check = -sum mod 10."""
    b = body.encode("ascii")
    total = 3 * _digit_sum(b[-1::-2]) + _digit_sum(b[-2::-2])
    return -total % 10


def is_valid_gs1(number: str) -> bool:
    return gs1_check_digit(number[:-1]) == ord(number[-1]) - _ZERO


# --- DHL Paket Identcode --------------------------------------------------------------------


def dhl_identcode_check_digit(body: str) -> int:
    """Weights 4,9,4,… from the leftmost of the 11 body digits; check = -sum mod 10.

    With 11 body digits the leftmost and the rightmost digit both weigh 4, so counting the
    weights from the left or from the right gives the same number.
    """
    b = body.encode("ascii")
    total = 4 * _digit_sum(b[0::2]) + 9 * _digit_sum(b[1::2])
    return -total % 10


def is_valid_dhl_identcode(number: str) -> bool:
    return dhl_identcode_check_digit(number[:-1]) == ord(number[-1]) - _ZERO


# --- GLS parcel number ----------------------------------------------------------------------


def gls_check_digit(body: str) -> int:
    """Weights 3,1,3,… from the rightmost body digit, plus 1; check = -(sum + 1) mod 10."""
    b = body.encode("ascii")
    total = 3 * _digit_sum(b[-1::-2]) + _digit_sum(b[-2::-2]) + 1
    return -total % 10


def is_valid_gls(number: str) -> bool:
    return gls_check_digit(number[:-1]) == ord(number[-1]) - _ZERO


# --- DHL Express air waybill ----------------------------------------------------------------


def mod7_check_digit(body: str) -> int:
    """The body read as one integer, modulo 7."""
    return int(body) % 7


def is_valid_mod7(number: str) -> bool:
    return mod7_check_digit(number[:-1]) == ord(number[-1]) - _ZERO


# --- UPU S10 (Deutsche Post international items) --------------------------------------------

_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """Weights 8 6 4 2 3 5 9 7 over the 8 serial digits; 11 - sum mod 11, where 10 → 0, 11 → 5."""
    total = 0
    for weight, char in zip(_S10_WEIGHTS, serial, strict=True):
        total += weight * (ord(char) - _ZERO)
    check = 11 - total % 11
    if check == 10:
        return 0
    if check == 11:
        return 5
    return check


def is_valid_s10(number: str) -> bool:
    """`number` is the whole item id: 2 letters, 8 serial digits, check digit, country."""
    return s10_check_digit(number[2:10]) == ord(number[10]) - _ZERO


# --- ISO 7064 Mod 37,36 (DPD) ---------------------------------------------------------------


def mod37_36_check_char(body: str) -> str:
    """ISO 7064 hybrid system Mod 37,36 over digits and letters; the check is a digit or letter."""
    product = 36
    for char in body:
        total = (product + _ALPHANUMERIC_VALUE[char]) % 36 or 36
        product = (total * 2) % 37
    return _ALPHANUMERIC[(37 - product) % 36]


def is_valid_mod37_36(number: str) -> bool:
    return mod37_36_check_char(number[:-1]) == number[-1]


# --- UPS 1Z ---------------------------------------------------------------------------------

# Letters count as (ord(letter) - 63) mod 10: A=2, B=3, …, H=9, I=0, J=1, …
_UPS_VALUES = str.maketrans(
    {letter: str((ord(letter) - 63) % 10) for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
)


def ups_check_digit(body: str) -> int:
    """Over the 15 characters after "1Z": 1st, 3rd, … weigh 1, 2nd, 4th, … weigh 2; -sum mod 10."""
    b = body.translate(_UPS_VALUES).encode("ascii")
    total = _digit_sum(b[0::2]) + 2 * _digit_sum(b[1::2])
    return -total % 10


def is_valid_ups(number: str) -> bool:
    """`number` is the whole 18-character "1Z…" number."""
    return ups_check_digit(number[2:17]) == ord(number[17]) - _ZERO


# --- FedEx Express 12 -----------------------------------------------------------------------


def fedex_12_check_digit(body: str) -> int:
    """Weights 3,1,7,3,1,7,… from the left over 11 digits; check = sum mod 11 mod 10."""
    b = body.encode("ascii")
    total = 3 * _digit_sum(b[0::3]) + _digit_sum(b[1::3]) + 7 * _digit_sum(b[2::3])
    return total % 11 % 10


def is_valid_fedex_12(number: str) -> bool:
    return fedex_12_check_digit(number[:-1]) == ord(number[-1]) - _ZERO


CHECKS: dict[str, Callable[[str], bool]] = {
    "gs1_mod10": is_valid_gs1,
    "dhl_identcode": is_valid_dhl_identcode,
    "gls": is_valid_gls,
    "mod7": is_valid_mod7,
    "upu_s10": is_valid_s10,
    "mod37_36": is_valid_mod37_36,
    "ups": is_valid_ups,
    "fedex_12": is_valid_fedex_12,
}
