"""Realistic sample orders for every portal: the demo, the tests and the benchmarks use them.

German names with umlauts, several items, several portal accounts, and portal ids in the shape
each portal uses (Amazon 3-7-7, eBay 2-5-5, Kaufland order units one per piece, ...).
"""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

FIRST_NAMES = (
    "Jürgen",
    "Jörg",
    "Björn",
    "Sören",
    "Günther",
    "Käthe",
    "Müzeyyen",
    "Anna",
    "Lukas",
    "Lea",
    "Maximilian",
    "Sophie",
    "Ömer",
    "Zoë",
    "François",
    "Marie-Luise",
    "Hans-Jürgen",
    "Ute",
    "Andreas",
    "Katharina",
    "Felix",
    "Jana",
    "Stefan",
    "Małgorzata",
)
LAST_NAMES = (
    "Müller",
    "Schröder",
    "Größmann",
    "Weiß",
    "Bäcker",
    "Jäger",
    "Köhler",
    "Schäfer",
    "Krüger",
    "Hoffmann",
    "Schmidt",
    "Fischer",
    "Meyer",
    "Wagner",
    "Öztürk",
    "Beck",
    "Lehmann",
    "Schulz",
    "Nowak",
    "van der Berg",
    "Meißner",
    "Strauß",
    "Dürr",
    "Hübner",
)
PLACES = {
    "DE": (
        ("10115", "Berlin"),
        ("80331", "München"),
        ("50667", "Köln"),
        ("20095", "Hamburg"),
        ("01067", "Dresden"),
        ("04109", "Leipzig"),
        ("90402", "Nürnberg"),
        ("79098", "Freiburg im Breisgau"),
        ("97070", "Würzburg"),
        ("48143", "Münster"),
    ),
    "AT": (("1010", "Wien"), ("8010", "Graz"), ("5020", "Salzburg")),
    "CH": (("8001", "Zürich"), ("3011", "Bern")),
    "NL": (("1012", "Amsterdam"),),
    "FR": (("75001", "Paris"),),
    "GB": (("SW1A 1AA", "London"),),
}
COUNTRY_WEIGHTS = (("DE", 80), ("AT", 8), ("CH", 4), ("NL", 3), ("FR", 3), ("GB", 2))
PRODUCTS = (
    ("KAF-1001", "Kaffeebohnen Espresso 1 kg"),
    ("TAS-2002", "Tasse „Grüße aus Köln“"),
    ("GRL-3003", "Grillzange Edelstahl"),
    ("SCH-4004", "Schürze Baumwolle, grün"),
    ("LAM-5005", "LED-Lampe E27 warmweiß"),
    ("BUC-6006", "Buch: Die Blechtrommel"),
    ("SPI-7007", "Spielzeug-Bagger <groß>"),
    ("MÜS-8008", "Müsli Früchte & Nüsse"),
    ("SOC-9009", "Socken 5er-Pack"),
    ("KAB-1010", "USB-C Kabel 2 m"),
)
ACCOUNTS = {
    "amazon": ("amazon-de", "amazon-eu"),
    "ebay": ("ebay-main",),
    "kaufland": ("kaufland-de",),
    "hood": ("hood-shop",),
    "rakuten": ("rakuten-legacy",),
    "shop": ("webshop",),
}
PORTAL_WEIGHTS = (
    ("amazon", 40),
    ("ebay", 25),
    ("kaufland", 12),
    ("shop", 13),
    ("hood", 7),
    ("rakuten", 3),
)


_ASCII_MAIL = {
    ord(k): v
    for k, v in {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "é": "e",
        "ç": "c",
        "ë": "e",
        "ł": "l",
    }.items()
}


@dataclass(frozen=True)
class SampleOrder:
    order: dict[str, str]
    items: list[dict[str, str | int]]


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _portal_ids(
    rng: random.Random, portal: str, n_items: int, quantities: list[int]
) -> tuple[str, list[str]]:
    digits = rng.randrange
    if portal == "amazon":
        oid = f"{digits(100, 1000):03d}-{digits(10**7):07d}-{digits(10**7):07d}"
        return oid, [f"{digits(10**13, 10**14)}" for _ in range(n_items)]
    if portal == "ebay":
        oid = f"{digits(10, 100)}-{digits(10**5):05d}-{digits(10**5):05d}"
        return oid, [f"{digits(10**11, 10**12)}" for _ in range(n_items)]
    if portal == "kaufland":
        return f"M{digits(10**6, 10**7)}", [str(digits(10**8, 10**9)) for _ in range(n_items)]
    if portal == "hood":
        return str(digits(10**7, 10**8)), [str(digits(10**6, 10**7)) for _ in range(n_items)]
    if portal == "rakuten":
        oid = f"{digits(1000):03d}-{digits(1000):03d}-{digits(1000):03d}"
        return oid, [str(digits(10**5, 10**6)) for _ in range(n_items)]
    return f"WEB-{digits(10**5, 10**6)}", [f"L{i + 1}" for i in range(n_items)]


def _unique(item_ids: list[str], used: set[str]) -> list[str]:
    """Kaufland's `id_order_unit` is unique across all orders: a random id drawn twice (likely
    from some ten thousand Kaufland orders on) is counted up to the next free one, without
    drawing again, so the rest of the sample stays as it was."""
    unique = []
    for item_id in item_ids:
        while item_id in used:
            item_id = str(int(item_id) + 1)
        used.add(item_id)
        unique.append(item_id)
    return unique


def generate_orders(count: int, *, seed: int = 7, start: int = 100001) -> Iterator[SampleOrder]:
    rng = random.Random(seed)
    kaufland_units: set[str] = set()
    for n in range(start, start + count):
        portal = _pick(rng, PORTAL_WEIGHTS)
        country = _pick(rng, COUNTRY_WEIGHTS)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        postal_code, city = rng.choice(PLACES[country])
        products = rng.sample(PRODUCTS, k=rng.choice((1, 1, 1, 2, 2, 3)))
        quantities = [rng.choice((1, 1, 1, 2, 3)) for _ in products]
        if portal == "kaufland":  # one order unit per purchased piece
            products = [p for p, q in zip(products, quantities, strict=True) for _ in range(q)]
            quantities = [1] * len(products)
        portal_order_id, item_ids = _portal_ids(rng, portal, len(products), quantities)
        if portal == "kaufland":
            item_ids = _unique(item_ids, kaufland_units)
        local = f"{first}.{last}".lower().replace(" ", "")
        local = local.translate(_ASCII_MAIL)
        domain = "members.ebay.example" if portal == "ebay" else "example.de"
        yield SampleOrder(
            order={
                "order_no": f"AU{n}",
                "portal": portal,
                "portal_account": rng.choice(ACCOUNTS[portal]),
                "portal_order_id": portal_order_id,
                "buyer_name": f"{first} {last}",
                "buyer_email": f"{local}.{n}@{domain}",
                "country": country,
                "language": "de" if country in ("DE", "AT", "CH") else "en",
                "postal_code": postal_code,
                "city": city,
            },
            items=[
                {"item_id": item_id, "sku": sku, "title": title, "quantity": q}
                for item_id, (sku, title), q in zip(item_ids, products, quantities, strict=True)
            ],
        )


# OTTO Market prints return labels of DHL, GLS and Hermes only (connectors/otto/README.md), and
# ships within Germany; its ids are UUIDs, one position item per purchased piece
OTTO_ACCOUNT = "otto-de"
OTTO_CARRIERS = (("dhl", 50), ("hermes", 30), ("gls", 20))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def otto_orders(count: int, *, seed: int = 13, start: int = 900001) -> list[SampleOrder]:
    """OTTO orders of their own random stream, so the other portals' samples stay as they are."""
    rng = random.Random(seed)
    samples = []
    for n in range(start, start + count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        postal_code, city = rng.choice(PLACES["DE"])
        products = rng.sample(PRODUCTS, k=rng.choice((1, 1, 2)))
        pieces = [p for p in products for _ in range(rng.choice((1, 1, 2)))]
        local = f"{first}.{last}".lower().replace(" ", "").translate(_ASCII_MAIL)
        order = {
            "order_no": f"AU{n}",
            "portal": "otto",
            "portal_account": OTTO_ACCOUNT,
            "portal_order_id": _uuid(rng),
            "buyer_name": f"{first} {last}",
            "buyer_email": f"{local}.{n}@example.de",
            "country": "DE",
            "language": "de",
            "postal_code": postal_code,
            "city": city,
        }
        items: list[dict[str, str | int]] = [
            {"item_id": _uuid(rng), "sku": sku, "title": title, "quantity": 1}
            for sku, title in pieces
        ]
        samples.append(SampleOrder(order=order, items=items))
    return samples


CSV_COLUMNS = (
    "order_no",
    "portal",
    "portal_account",
    "portal_order_id",
    "buyer_name",
    "buyer_email",
    "country",
    "language",
    "postal_code",
    "city",
    "item_id",
    "sku",
    "title",
    "quantity",
)


def orders_csv(orders: list[SampleOrder]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for sample in orders:
        for item in sample.items:
            row = {**sample.order, **item}
            writer.writerow([row[c] for c in CSV_COLUMNS])
    return out.getvalue().encode()


def orders_jsonl(orders: list[SampleOrder]) -> bytes:
    return "".join(
        json.dumps({**s.order, "items": s.items}, ensure_ascii=False) + "\n" for s in orders
    ).encode()


# --- tracking numbers with valid check digits, for sample tracking files -------------------

SAMPLE_CARRIER_WEIGHTS = (
    ("dhl", 45),
    ("dpd", 20),
    ("ups", 10),
    ("gls", 10),
    ("hermes", 10),
    ("deutsche_post", 5),
)


def sample_tracking_number(carrier: str, rng: random.Random) -> str:
    """A number of the carrier's most common label format, check digit included."""
    from core.carriers import checkdigits as cd

    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    if carrier == "dhl":  # 20-digit label number: 00 + SSCC 340434…
        body = "340434" + digits(11)
        return f"00{body}{cd.gs1_check_digit(body)}"
    if carrier == "deutsche_post":
        serial = digits(8)
        return f"RR{serial}{cd.s10_check_digit(serial)}DE"
    if carrier == "dpd":
        return "0" + digits(13)
    if carrier == "ups":
        body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(6))
        body += "68" + digits(7)  # shipper account, service code, package number
        return f"1Z{body}{cd.ups_check_digit(body)}"
    if carrier == "gls":
        body = digits(11)
        return f"{body}{cd.gls_check_digit(body)}"
    if carrier == "hermes":
        body = digits(13)
        return f"{body}{cd.gs1_check_digit(body)}"
    raise ValueError(f"no sample format for carrier {carrier}")


def tracking_csv(
    orders: list[SampleOrder],
    *,
    seed: int = 11,
    ship_date: str = "",
    two_parcel_share: float = 0.15,
    carriers: tuple[tuple[str, int], ...] = SAMPLE_CARRIER_WEIGHTS,
) -> bytes:
    """The project's own format: order_no;carrier;tracking_number;ship_date, and with OTTO
    orders among them a return_tracking_number column (OTTO's parcels carry a return label of
    their carrier)."""
    rng = random.Random(seed)
    with_returns = any(sample.order["portal"] == "otto" for sample in orders)
    header = "order_no;carrier;tracking_number;ship_date"
    lines = [header + ";return_tracking_number" if with_returns else header]
    for sample in orders:
        carrier = _pick(rng, carriers)
        otto = sample.order["portal"] == "otto"
        if otto:
            carrier = _pick(rng, OTTO_CARRIERS)
        count = 2 if rng.random() < two_parcel_share else 1
        for _ in range(count):
            number = sample_tracking_number(carrier, rng)
            line = f"{sample.order['order_no']};{carrier};{number};{ship_date}"
            if with_returns:
                line += ";" + (sample_tracking_number(carrier, rng) if otto else "")
            lines.append(line)
    return ("\n".join(lines) + "\n").encode()
