"""Small builders shared by tests: stores with sample orders, valid tracking numbers."""

from __future__ import annotations

import random
from datetime import date

from core.clock import business_today
from core.orders_file import read_orders_file
from core.tracking_csv import read_tracking_file
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
