"""Small builders shared by tests: stores with sample orders, valid tracking numbers."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
from datetime import date
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from core.clock import business_today
from core.orders_file import read_orders_file
from core.tracking_csv import read_tracking_file
from db.models import Order, Parcel
from db.queries.imports import create_import
from db.session import session_scope
from simulators.samples import SampleOrder, generate_orders, orders_csv, sample_tracking_number
from tasks.orders import store_orders
from tasks.tracking_import import import_rows


def seed_orders(db_url: str, count: int = 5, *, seed: int = 3) -> list[SampleOrder]:
    samples = list(generate_orders(count, seed=seed))
    with session_scope(db_url) as session:
        store_orders(session, parsed=read_orders_file(orders_csv(samples)))
    return samples


def numbers(carrier: str, count: int, *, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return [sample_tracking_number(carrier, rng) for _ in range(count)]


def import_tracking_file(
    db_url: str,
    data: bytes,
    *,
    file_format: str | None = None,
    carrier: str | None = None,
    today: date | None = None,
) -> tuple[int, int, list[tuple[int, str, str]]]:
    """Import a tracking file as the flow does (today's date by default): (imported, already
    known, rejected rows as (row, column, code))."""
    table = read_tracking_file(data, file_format=file_format, carrier=carrier)
    with session_scope(db_url) as session:
        import_id = create_import(
            session, file_name="t.csv", sha256="x", archive_path="-", file_format=file_format,
            carrier=carrier, source="test",
        )  # fmt: skip
    outcome = import_rows(
        db_url,
        import_id=import_id,
        frame=table.frame,
        headers=table.headers,
        preset=table.preset,
        carrier=carrier,
        today=today or business_today(),
        source="import",
    )
    problems = [(p.row, p.column, p.code) for p in outcome.problems]
    return outcome.imported, outcome.already_known, problems


def self_signed_certificate(folder: Path) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for 127.0.0.1 and localhost in `folder`: (cert file, key
    file, PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem", pem


def order_of(db_url: str, number: str) -> Order:
    """The order of the parcel with this tracking number, detached from its session."""
    with session_scope(db_url) as session:
        parcel = session.scalars(select(Parcel).where(Parcel.tracking_number == number)).one()
        order = session.get(Order, parcel.order_id)
        assert order is not None
        session.expunge(order)
        return order


def parcel(db_url: str, number: str) -> Parcel:
    """The parcel with this tracking number, detached from its session."""
    with session_scope(db_url) as session:
        row = session.scalars(select(Parcel).where(Parcel.tracking_number == number)).one()
        session.expunge(row)
        return row
