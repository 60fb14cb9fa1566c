"""Carriers: who they are, what their tracking numbers look like, where buyers track parcels.

table.py        the carrier table (codes, names, aliases, tracking links, number formats)
checkdigits.py  the check-digit rules, pure functions
numbers.py      lookup by name, normalisation and validation, detection, tracking links
"""

from connectors.carriers.numbers import (
    TrackingNumberError,
    UnknownCarrier,
    detect_carriers,
    find_carrier,
    get_carrier,
    normalise_tracking_number,
    tracking_url,
)
from connectors.carriers.table import CARRIERS, Carrier, NumberFormat

__all__ = [
    "CARRIERS",
    "Carrier",
    "NumberFormat",
    "TrackingNumberError",
    "UnknownCarrier",
    "detect_carriers",
    "find_carrier",
    "get_carrier",
    "normalise_tracking_number",
    "tracking_url",
]
