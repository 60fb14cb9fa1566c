"""The demo: sample orders for every portal (OTTO's with return labels), their tracking
numbers, and the chain on them.

Everything runs on embedded defaults under LIEFERN_HOME: SQLite, a local SMTP capture server
that writes .eml files, and the portal simulators on loopback, configured through an accounts
file and credential variables exactly as the real portals would be.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select

from cli.demo_problems import watchlist_step
from cli.demo_sender import demo_sender_check
from cli.demo_tracking import run_tracking
from cli.progress import Steps, prefect_log_to
from cli.runtime import ensure_database, prepare_prefect
from core.orders_file import read_orders_file
from core.run_verdict import RunFailed
from core.settings import Settings, get_settings, reset_settings
from db.models import Confirmation, Order, Parcel
from db.queries.confirmations import confirmation_counts
from db.queries.orders import count_orders
from db.session import session_scope
from db.types import utcnow
from flows.results import DeliverResult, PollResult, RetentionResult, TrackingImportResult
from simulators.profiles import Profile
from simulators.samples import generate_orders, orders_csv, otto_orders, tracking_csv
from simulators.smtp import CaptureServer
from simulators.stack import PortalStack, portal_orders_from_store
from tasks.orders import store_orders

R = TypeVar("R")


def run_demo(
    settings: Settings,
    *,
    orders: int,
    workdir: Path,
    steps: Steps | None = None,
    profile: Profile | None = None,
) -> dict[str, Any]:
    """The demo's result; Prefect's log lines go to LIEFERN_HOME/logs/demo.log meanwhile."""
    steps = steps or Steps()
    url = ensure_database(settings)
    lines: list[str] = []
    with steps.step(f"importing {orders} sample orders"):
        with session_scope(url) as session:
            start = 100001 + count_orders(session)
        # OTTO's orders come from a stream of their own: the other portals' samples stay
        otto = max(1, orders // 8) if orders > 1 else 0
        samples = list(generate_orders(orders - otto, seed=start, start=start))
        samples += otto_orders(otto, seed=start, start=start + orders - otto)
        orders_file = workdir / "orders.csv"
        orders_file.write_bytes(orders_csv(samples))
        with session_scope(url) as session:
            summary = store_orders(session, parsed=read_orders_file(orders_file.read_bytes()))
    lines.append(f"orders: {summary['imported']} imported from {orders_file}")

    tracking_file = workdir / "tracking.csv"
    tracking_file.write_bytes(tracking_csv(samples, seed=start))
    prepare_prefect(settings)
    with steps.step("starting Prefect"):
        from flows.confirm import poll_portals
        from flows.deliver import deliver
        from flows.retention import anonymise_buyers
        from flows.tracking_import import tracking_import

    log = settings.home.resolve() / "logs" / "demo.log"
    with prefect_log_to(log):
        result = _chain(
            settings,
            url,
            steps,
            tracking_file,
            tracking_import,
            deliver,
            poll_portals,
            profile or Profile(),
        )
        with steps.step("anonymising buyer data past their retention"):
            retention, dated_back = _retention(url, anonymise_buyers, result["lines"])
            result["retention"] = {**retention.as_json(), "dated_back": dated_back}
        with steps.step("watching for late parcels"):
            result["problems"] = watchlist_step(settings, url, result["lines"])
        _stop_temporary_prefect_server()
    lines += result.pop("lines")
    line, result["deliverability"] = demo_sender_check(settings)  # cli/demo_sender.py
    lines.append(line)
    lines.append(f"Prefect's log of this demo: {log}")
    lines.append(f"the protocol of one order: liefern orders show {samples[0].order['order_no']}")
    return {"orders": summary, **result, "log": str(log), "lines": lines}


def _chain(
    settings: Settings,
    url: str,
    steps: Steps,
    tracking_file: Path,
    tracking_import: Any,
    deliver: Any,
    poll_portals: Any,
    profile: Profile,
) -> dict[str, Any]:
    """Tracking import, deliver and the portals' confirmations, against local stand-ins."""
    lines: list[str] = []
    with steps.step("importing the tracking numbers"):
        report: TrackingImportResult = asyncio.run(
            tracking_import(file=str(tracking_file), source="demo", file_name="tracking.csv")
        )
    lines.append(
        f"tracking import {report.import_id}: {report.imported} parcels from {tracking_file}"
    )
    outbox = settings.home / "outbox"
    with (
        CaptureServer(outbox) as smtp,
        PortalStack(amazon_processing_seconds=1.0, profile=profile) as portals,
    ):
        portals.seed(portal_orders_from_store(url))
        accounts_file = settings.home / "demo-accounts.toml"
        accounts_file.write_text(portals.accounts_toml(), encoding="utf-8")
        demo_env = {
            **portals.environment(),
            "LIEFERN_ACCOUNTS_FILE": str(accounts_file),
            "LIEFERN_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
        }
        delivering = steps.step("delivering: shipping mails and portal confirmations")
        with _environment(demo_env), delivering:
            delivered, polled, counts = _deliver_and_poll(deliver, poll_portals)
        for carrier, mails in delivered.carriers.items():
            lines.append(
                f"deliver {carrier}: "
                + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in mails.items())
            )
        lines.append(f"mails: {smtp.received} captured as .eml files in {outbox.resolve()}")
        with steps.step("polling Amazon's feed results"):
            time.sleep(1.5)  # Amazon's processing time in the simulator
            polled = _summary(poll_portals, PollResult)
        with _environment(demo_env), steps.step("asking DHL and Amazon for the delivery status"):
            tracked, tracked_line = run_tracking(url, portals, accounts_file)
    with session_scope(get_settings().db_url) as session:
        counts = confirmation_counts(session)
    for portal, by_status in sorted(counts.items()):
        lines.append(f"{portal}: " + ", ".join(f"{v} {k}" for k, v in sorted(by_status.items())))
    lines.append(tracked_line)
    return {
        "tracking_import": report,
        "deliver": delivered,
        "poll": polled,
        "tracking": tracked,
        "confirmations": counts,
        "outbox": str(outbox.resolve()),
        "lines": lines,
    }


# the demo's old order: delivered this long ago, past Amazon's 30 days (core/accounts.py)
DEMO_AGE_DAYS = 40


def _retention(
    url: str, anonymise_buyers: Any, lines: list[str]
) -> tuple[RetentionResult, str | None]:
    """Date one confirmed Amazon order back as if it arrived DEMO_AGE_DAYS ago, then run the
    retention: its buyer data are anonymised, the fresh orders keep theirs. The run's result
    and the order dated back."""
    old = _date_back_one_amazon_order(url, days=DEMO_AGE_DAYS)
    result: RetentionResult = asyncio.run(anonymise_buyers())
    counts = result.counts
    if old:
        lines.append(
            f"retention: order {old} (amazon) dated back to arrived {DEMO_AGE_DAYS} days ago; "
            f"liefern orders show {old}"
        )
    lines.append(
        f"retention: {counts.anonymised} of {counts.due} orders past their retention "
        f"anonymised, {counts.skipped} skipped (data still needed)"
    )
    return result, old


def _date_back_one_amazon_order(url: str, *, days: int) -> str | None:
    """The order number of the Amazon order moved into the past (None: the demo has none)."""
    with session_scope(url) as session:
        order = session.scalars(
            select(Order)
            .join(Confirmation, Confirmation.order_id == Order.id)
            .where(
                Order.portal == "amazon",
                Order.status == "shipped",
                Order.anonymised_at.is_(None),
                Confirmation.status == "confirmed",
            )
            .order_by(Order.id)
            .limit(1)
        ).first()
        if order is None:
            return None
        back = timedelta(days=days + 3)
        now = utcnow()
        order.created_at -= back
        if order.shipped_at:
            order.shipped_at -= back
        order.status, order.arrived_source = "arrived", "demo"
        order.arrived_at = now - timedelta(days=days)
        for parcel in session.scalars(select(Parcel).where(Parcel.order_id == order.id)):
            parcel.ship_date -= back
            parcel.created_at -= back
            if parcel.delivered_at:  # tracked: retention counts from it (core/retention.py)
                parcel.delivered_at = now - timedelta(days=days)
        return order.order_no


def _stop_temporary_prefect_server() -> None:
    """Without a running `liefern serve` Prefect started a server for this process; stop it
    now, while its goodbye still goes to the log, not after the summary."""
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        # the runs' last log lines are still on their way to the server: deliver them first,
        # or they fail after the summary with "Error logging to API"
        APILogWorker.drain_all(timeout=5)
        SubprocessASGIServer().stop()


def _deliver_and_poll(
    deliver: Any, poll_portals: Any
) -> tuple[DeliverResult, PollResult, dict[str, dict[str, int]]]:
    delivered = _summary(lambda: deliver(carriers=None), DeliverResult)
    time.sleep(1.5)  # Amazon's processing time in the simulator
    polled = _summary(poll_portals, PollResult)
    with session_scope(get_settings().db_url) as session:
        counts = confirmation_counts(session)
    return delivered, polled, counts


def _summary(run: Callable[[], Coroutine[Any, Any, R]], kind: type[R]) -> R:
    """A run's result, also of a run that ended Failed (its state names why)."""
    try:
        return asyncio.run(run())
    except RunFailed as failed:
        return failed.result(kind)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Point the settings at the demo's stand-ins, and restore the environment afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    reset_settings()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings()
