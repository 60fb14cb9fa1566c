"""The demo's delivery-status step: track-parcels against DHL's tracking simulator and Amazon's.

After deliver and poll, the shipped DHL parcels get a life in the DHL Parcel DE Tracking
simulator and the Amazon packages a status in the Amazon simulator; every third one is
delivered, the others are on their way. The tracking accounts are added to the demo's
accounts file exactly as an operator writes them, and the flow runs as scheduled.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import select

from connectors.credentials import env_name
from core.run_verdict import RunFailed
from db.models import Order, Parcel
from db.session import session_scope
from flows.results import TrackResult
from simulators import dhl_tracking
from simulators.server import serve_in_thread
from simulators.stack import PortalStack

DHL_ACCOUNT = "demo"
DELIVERED_EVERY = 3  # one parcel in three is delivered by the time the flow asks


def run_tracking(db_url: str, portals: PortalStack, accounts_file: Path) -> tuple[TrackResult, str]:
    """The flow's result, and the demo's line about it."""
    from flows.track_parcels import track_parcels

    app = dhl_tracking.create_app()
    sim = dhl_tracking.state_of(app)
    with serve_in_thread(app) as url:
        for index, number in enumerate(_dhl_numbers(db_url)):
            if index % DELIVERED_EVERY == 0:
                sim.deliver(number)
            else:
                sim.on_the_way(number)
        amazon = portals.apps["amazon"].state.sim
        packages = sorted(f.tracking_number for fs in amazon.fulfillments.values() for f in fs)
        for index, number in enumerate(packages):
            if index % DELIVERED_EVERY == 0:
                amazon.set_package_status(number, "DELIVERED", "DELIVERED")
            else:
                amazon.set_package_status(number, "IN_TRANSIT", "OUT_FOR_DELIVERY")
        with accounts_file.open("a", encoding="utf-8") as out:
            out.write(_tracking_toml(url, portals))
        credentials = {
            "api_key": sim.api_key,
            "api_secret": sim.api_secret,
            "appname": sim.appname,
            "password": sim.password,
        }
        names = {env_name("dhl_tracking", DHL_ACCOUNT, f): v for f, v in credentials.items()}
        os.environ.update(names)
        try:
            summary = asyncio.run(track_parcels())
        except RunFailed as failed:
            summary = failed.result(TrackResult)
        finally:
            for name in names:
                os.environ.pop(name, None)
    return summary, _line(summary)


def _dhl_numbers(db_url: str) -> list[str]:
    """DHL tracking numbers of shipped orders not from Amazon (those are asked at Amazon)."""
    with session_scope(db_url) as session:
        rows = session.scalars(
            select(Parcel.tracking_number)
            .join(Order, Order.id == Parcel.order_id)
            .where(
                Parcel.carrier == "dhl",
                Parcel.tracking_number.is_not(None),
                Order.status == "shipped",
                Order.portal != "amazon",
            )
            .order_by(Parcel.id)
        ).all()
    return [n for n in rows if n]


def _tracking_toml(url: str, portals: PortalStack) -> str:
    lines = [
        "",
        f"[tracking.{DHL_ACCOUNT}]",
        'source = "dhl_tracking"',
        f'base_url = "{url}{dhl_tracking.TRACKING_PATH}"',
        "simulator = true",
    ]
    for account, portal in sorted(portals.accounts.items()):
        if portal == "amazon":
            lines += ["", f'[tracking."{account}"]', 'source = "amazon"']
            lines.append(f'account = "{account}"')
    return "\n".join(lines) + "\n"


def _line(summary: TrackResult) -> str:
    by_source: dict[str, int] = {}
    for run in summary.sources:
        name = "dhl" if run.source == "dhl_tracking" else run.source
        by_source[name] = by_source.get(name, 0) + run.delivered
    arrived = summary.arrived
    line = (
        f"tracking: {summary.delivered} of {summary.parcels_asked} parcels "
        "delivered ("
        + ", ".join(f"{name} {count}" for name, count in sorted(by_source.items()))
        + f"), {len(arrived)} orders set to arrived"
    )
    if arrived:
        line += f"; liefern orders show {arrived[0]}"
    if summary.errors:
        line += f"; errors: {'; '.join(summary.errors)}"
    return line
