"""The demo: sample orders for every portal, their tracking numbers, and the chain on them.

Everything runs on embedded defaults under LIEFERN_HOME: SQLite, a local SMTP capture server
that writes .eml files, and the portal simulators on loopback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli.runtime import ensure_database, prepare_prefect
from core.orders_file import read_orders_file
from core.samples import generate_orders, orders_csv, tracking_csv
from core.settings import Settings
from db.session import session_scope
from tasks.orders import store_orders


def run_demo(settings: Settings, *, orders: int, workdir: Path) -> dict[str, Any]:
    url = ensure_database(settings)
    lines: list[str] = []
    samples = list(generate_orders(orders, seed=len(list(settings.home.glob("*"))) + 7))
    orders_file = workdir / "orders.csv"
    orders_file.write_bytes(orders_csv(samples))
    with session_scope(url) as session:
        summary = store_orders(session, parsed=read_orders_file(orders_file.read_bytes()))
    lines.append(f"orders: {summary['imported']} imported from {orders_file}")

    tracking_file = workdir / "tracking.csv"
    tracking_file.write_bytes(tracking_csv(samples))
    prepare_prefect(settings)
    from flows.tracking_import import tracking_import

    report = tracking_import(file=str(tracking_file), source="demo", file_name="tracking.csv")
    lines.append(
        f"tracking import {report['import_id']}: {report['imported']} parcels from {tracking_file}"
    )
    return {"orders": summary, "tracking_import": report, "lines": lines}
