"""Small builders shared by tests: stores with sample orders, valid tracking numbers."""

from __future__ import annotations

import random

from core.orders_file import read_orders_file
from core.samples import SampleOrder, generate_orders, orders_csv, sample_tracking_number
from db.session import session_scope
from tasks.orders import store_orders


def seed_orders(db_url: str, count: int = 5, *, seed: int = 3) -> list[SampleOrder]:
    samples = list(generate_orders(count, seed=seed))
    with session_scope(db_url) as session:
        store_orders(session, parsed=read_orders_file(orders_csv(samples)))
    return samples


def numbers(carrier: str, count: int, *, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return [sample_tracking_number(carrier, rng) for _ in range(count)]
