# Parts of this table (the DPD, UPS, FedEx, DHL Express and UPU S10 number formats, their
# check-digit rules and the S10 country codes) are derived from jkeen/tracking_number_data:
#
#   MIT License
#
#   Copyright (c) 2017 Jeff Keen
#
#   Permission is hereby granted, free of charge, to any person obtaining a copy
#   of this software and associated documentation files (the "Software"), to deal
#   in the Software without restriction, including without limitation the rights
#   to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
#   copies of the Software, and to permit persons to whom the Software is
#   furnished to do so, subject to the following conditions:
#
#   The above copyright notice and this permission notice shall be included in all
#   copies or substantial portions of the Software.
#
#   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
#   IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
#   FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
#   AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
#   LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
#   OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
#   SOFTWARE.
"""The carrier table: every vendor fact about carriers lives here, and only here.

One row per carrier: its code (what the database and the CLI store), display name, the names it
goes by in German carrier and shop-software exports (aliases), tracking page templates in German
and English, whether it has a daily-closing API, and the tracking number formats it issues.

A format is matched against the *cleaned* number: spaces, hyphens, dots and slashes removed,
letters upper-cased. `check` names a rule in `checkdigits.CHECKS`; `keep` says which slice of a
valid number is the parcel's canonical number, for formats that carry more than the parcel
number (the GS1 `00` prefix, DPD's check character, DPD's full 28-character barcode), so that
every spelling of one parcel is stored as one number.

Facts and where they were checked:
- DHL Paket Identcode (12 digits): weights 4 and 9 alternating from the left over the first 11
  digits, check = (10 - sum mod 10) mod 10. With an 11-digit body, "4,9 from the left" and
  "4,9 from the right" are the same weighting; verified on the published 201298452277.
- DHL Paket 20-digit numbers are `00` (GS1 application identifier) + an 18-digit SSCC with the
  GS1 mod-10 check (weights 3,1 from the right); verified on 00340433836442636597. Both
  spellings are stored as the 18-digit SSCC, which is also what DHL's shipping API returns.
- DHL Paket national `JJD` numbers (JJD + 18..20 digits) carry no check digit we can verify.
- GLS parcel numbers: 11 digits + check; weights 3,1 (from the left = from the right for 11
  digits), sum + 1, check = (10 - (sum + 1) mod 10) mod 10 (GLS Uni-Box documentation, 3.2.1);
  verified on 364123734778. The 8-character Track-ID has no check.
- Hermes: 14 digits, weights 3,1 from the left (= GS1 mod 10 over 13 digits); verified on
  09133131530724. Newer numbers are H + 19 digits (e.g. H1003660401590901036), no known check.
- DPD: the 14-digit parcel number alone has no check; with its ISO 7064 Mod 37,36 check
  character it is 15 long; the 28-character label barcode is zip(7) + parcel number(14) +
  service(3) + country(3) + check. All three are stored as the 14-digit parcel number.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NumberFormat:
    """One shape of tracking number a carrier issues."""

    id: str
    description: str  # how an operator would describe it; used in error messages
    pattern: str  # regular expression, matched in full against the cleaned number
    lengths: tuple[int, int]  # shortest and longest cleaned length the pattern can match
    check: str | None = None  # rule name in checkdigits.CHECKS, None = no check digit
    keep: tuple[int, int] | None = None  # slice that is the canonical number (None = all)


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    aliases: tuple[str, ...]
    tracking_url_de: str  # "{number}" is replaced by the URL-quoted number; "" = no page
    tracking_url_en: str
    has_closing_api: bool
    formats: tuple[NumberFormat, ...] = field(default=(), repr=False)


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(","))


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# --- number formats, shared where carriers share numbers ------------------------------------

DHL_PAKET_FORMATS = (
    NumberFormat("dhl_identcode", "12 digits (Identcode)", r"[0-9]{12}", (12, 12), "dhl_identcode"),
    NumberFormat("dhl_sscc", "18 digits (SSCC)", r"[0-9]{18}", (18, 18), "gs1_mod10"),
    NumberFormat(
        "dhl_sscc_00",
        "20 digits starting with 00",
        r"00[0-9]{18}",
        (20, 20),
        "gs1_mod10",
        keep=(2, 20),
    ),
    NumberFormat("dhl_jjd", "JJD followed by 18 to 20 digits", r"JJD[0-9]{18,20}", (21, 23)),
)

# Issuing countries known to the UPU S10 standard (ISO 3166 alpha-2 of the postal operator).
S10_COUNTRIES = frozenset(
    _words(
        """
    AE AF AG AL AM AO AR AT AU AZ BA BB BD BE BF BG BH BI BJ BN BO BR BS BT BW BY BZ CA CD CF
    CG CH CI CL CM CN CO CR CU CV CY CZ DE DJ DK DM DO DZ EC EE EG ER ES ET FI FJ FR GA GB GD
    GE GH GM GN GQ GR GT GW GY HK HN HR HT HU ID IE IL IN IQ IR IS IT JM JO JP KE KG KH KI KM
    KN KP KR KW KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MG MK ML MM MN MR MT MU MV MW
    MX MY MZ NA NE NG NI NL NO NP NR NZ OM PA PE PG PH PK PL PT PY QA RO RS RU RW SA SB SC SD
    SE SG SI SK SL SM SN SO SR SS ST SV SY SZ TD TG TH TJ TL TM TN TO TR TT TV TZ UA UG US UY
    UZ VA VC VE VN VU WS YE ZA ZM ZW
    """
    )
)

S10_FORMAT = NumberFormat(
    "upu_s10",
    "2 letters, 9 digits and a 2-letter country code (e.g. RR123456785DE)",
    rf"[A-Z]{{2}}[0-9]{{9}}(?:{'|'.join(sorted(S10_COUNTRIES))})",
    (13, 13),
    "upu_s10",
)

# The cleaned number may be at most this long for carrier "other" (the parcels column size).
OTHER_MAX_LENGTH = 64

# --- the table ------------------------------------------------------------------------------

_DHL_DE = "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode={number}"
_DHL_EN = "https://www.dhl.de/en/privatkunden/pakete-empfangen/verfolgen.html?piececode={number}"
_HERMES = "https://www.myhermes.de/empfangen/sendungsverfolgung/sendungsinformation#{number}"

CARRIER_TABLE: tuple[Carrier, ...] = (
    Carrier(
        code="dhl",
        name="DHL Paket",
        aliases=_names(
            "DHL, DHL Paket, DHL Parcel, DHL Parcel DE, DHL Paket National, "
            "DHL Paket International, DHL Europaket, DHL Kleinpaket, DHL Päckchen, DHL Retoure, "
            "DHL Germany, DHL Deutschland, Deutsche Post DHL, Deutsche Post DHL Group, "
            "DHL Geschäftskunden"
        ),
        tracking_url_de=_DHL_DE,
        tracking_url_en=_DHL_EN,
        has_closing_api=True,
        formats=DHL_PAKET_FORMATS,
    ),
    Carrier(
        code="deutsche_post",
        name="Deutsche Post",
        aliases=_names(
            "Deutsche Post, Post, DP, DPAG, Deutsche Post AG, Warenpost, Warenpost National, "
            "Warenpost International, DHL Warenpost, Einschreiben, Deutsche Post Einschreiben, "
            "Deutsche Post International, Briefpost"
        ),
        tracking_url_de=_DHL_DE,
        tracking_url_en=_DHL_EN,
        has_closing_api=False,
        # Warenpost and other Deutsche Post parcels carry DHL Paket numbers.
        formats=(S10_FORMAT, *DHL_PAKET_FORMATS),
    ),
    Carrier(
        code="dhl_express",
        name="DHL Express",
        aliases=_names(
            "DHL Express, DHL Express Deutschland, DHL Express Germany, DHL Worldwide Express, "
            "DHL International Express, DHL WPX"
        ),
        tracking_url_de="https://www.dhl.com/de-de/home/tracking.html?tracking-id={number}",
        tracking_url_en="https://www.dhl.com/de-en/home/tracking.html?tracking-id={number}",
        has_closing_api=False,
        formats=(
            NumberFormat(
                "dhl_express_awb",
                "10 or 11 digits (air waybill)",
                r"[0-9]{10,11}",
                (10, 11),
                "mod7",
            ),
            NumberFormat("dhl_express_jd", "JD followed by 18 digits", r"JD[0-9]{18}", (20, 20)),
            NumberFormat("dhl_express_jjd", "JJD followed by 18 digits", r"JJD[0-9]{18}", (21, 21)),
            NumberFormat(
                "dhl_express_piece_id",
                "J and 2 or 3 letters followed by 9 or 10 digits (piece id)",
                r"J[A-Z]{2,3}[0-9]{9,10}",
                (12, 14),
            ),
        ),
    ),
    Carrier(
        code="dpd",
        name="DPD",
        aliases=_names(
            "DPD, DPD Deutschland, DPD Germany, DPD DE, DPD Classic, DPD Express, "
            "Dynamic Parcel Distribution"
        ),
        tracking_url_de="https://tracking.dpd.de/status/de_DE/parcel/{number}",
        tracking_url_en="https://tracking.dpd.de/status/en_DE/parcel/{number}",
        has_closing_api=False,
        formats=(
            NumberFormat("dpd_14", "14 digits", r"[0-9]{14}", (14, 14)),
            NumberFormat(
                "dpd_15",
                "14 digits and a check character",
                r"[0-9]{14}[0-9A-Z]",
                (15, 15),
                "mod37_36",
                keep=(0, 14),
            ),
            NumberFormat(
                "dpd_28",
                "28 characters (full label barcode)",
                r"[0-9]{27}[0-9A-Z]",
                (28, 28),
                "mod37_36",
                keep=(7, 21),
            ),
        ),
    ),
    Carrier(
        code="ups",
        name="UPS",
        aliases=_names(
            "UPS, United Parcel Service, UPS Deutschland, UPS Germany, UPS Standard, UPS Express, "
            "UPS Express Saver"
        ),
        tracking_url_de="https://www.ups.com/track?loc=de_DE&tracknum={number}",
        tracking_url_en="https://www.ups.com/track?loc=en_DE&tracknum={number}",
        has_closing_api=False,
        formats=(
            NumberFormat(
                "ups_1z",
                "1Z followed by 16 letters or digits",
                r"1Z[0-9A-Z]{15}[0-9]",
                (18, 18),
                "ups",
            ),
        ),
    ),
    Carrier(
        code="gls",
        name="GLS",
        aliases=_names("GLS, General Logistics Systems, GLS Germany, GLS Deutschland, GLS Paket"),
        tracking_url_de="https://gls-group.eu/DE/de/paketverfolgung?match={number}",
        tracking_url_en="https://gls-group.eu/DE/en/parcel-tracking?match={number}",
        has_closing_api=False,
        formats=(
            NumberFormat("gls_parcel", "12 digits (parcel number)", r"[0-9]{12}", (12, 12), "gls"),
            # At least one letter: an 8-digit "Track-ID" is far likelier a cut-off number.
            NumberFormat(
                "gls_track_id",
                "8 letters and digits (Track-ID)",
                r"(?=[0-9]*[A-Z])[0-9A-Z]{8}",
                (8, 8),
            ),
        ),
    ),
    Carrier(
        code="hermes",
        name="Hermes",
        aliases=_names(
            "Hermes, Hermes Germany, Hermes Deutschland, myHermes, Hermes Logistik, "
            "Hermes Logistik Gruppe, Hermes Paket"
        ),
        tracking_url_de=_HERMES,
        tracking_url_en=_HERMES,
        has_closing_api=False,
        formats=(
            NumberFormat("hermes_14", "14 digits", r"[0-9]{14}", (14, 14), "gs1_mod10"),
            NumberFormat("hermes_h", "H followed by 19 digits", r"H[0-9]{19}", (20, 20)),
        ),
    ),
    Carrier(
        code="fedex",
        name="FedEx",
        aliases=_names(
            "FedEx, Federal Express, FedEx Express, FedEx Ground, FedEx International, "
            "FedEx Deutschland, FedEx Germany"
        ),
        tracking_url_de="https://www.fedex.com/fedextrack/?trknbr={number}&locale=de_DE",
        tracking_url_en="https://www.fedex.com/fedextrack/?trknbr={number}&locale=en_DE",
        has_closing_api=False,
        formats=(
            NumberFormat("fedex_12", "12 digits (Express)", r"[0-9]{12}", (12, 12), "fedex_12"),
            NumberFormat("fedex_15", "15 digits (Ground)", r"[0-9]{15}", (15, 15), "gs1_mod10"),
        ),
    ),
    Carrier(
        code="other",
        name="Other carrier",
        aliases=_names("Other, Sonstige, Sonstiger, Sonstiges, Andere, Anderer"),
        tracking_url_de="",
        tracking_url_en="",
        has_closing_api=False,
        formats=(
            NumberFormat(
                "other",
                f"1 to {OTHER_MAX_LENGTH} letters and digits",
                rf"[0-9A-Z]{{1,{OTHER_MAX_LENGTH}}}",
                (1, OTHER_MAX_LENGTH),
            ),
        ),
    ),
)

CARRIERS: dict[str, Carrier] = {carrier.code: carrier for carrier in CARRIER_TABLE}
