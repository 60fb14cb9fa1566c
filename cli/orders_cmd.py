"""`liefern orders import FILE`, `liefern orders show ORDER_NO`, `liefern orders list`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import typer

from cli.output import Exit, JsonOption, emit, fail, rejected_lines
from cli.progress import Steps
from cli.runtime import ensure_database
from core.bounces import ADVICE, BOUNCE_CLASSES
from core.clock import BUSINESS_TZ
from core.domain import MailStatus, OrderStatus, Portal
from core.orders_file import read_orders_file
from core.problems import UnreadableInput
from db.queries.order_filter import NO_MAIL, OrderFilter, confirmation_filters
from db.queries.order_list import list_orders
from db.queries.orders import get_order
from db.queries.protocol import UNTRACKED, order_protocol
from db.session import session_scope
from tasks.orders import store_orders

app = typer.Typer(help="Orders.", no_args_is_help=True)


@app.command("import")
def import_orders(
    file: Path = typer.Argument(..., help="CSV (one row per item) or JSON lines."),
    as_json: bool = JsonOption,
) -> None:
    """Import orders; orders already known are left unchanged."""
    steps = Steps()  # a large file takes a minute: show what it is doing (terminal only)
    try:
        with steps.step(f"reading {file.name}"):
            data = file.read_bytes()
            parsed = read_orders_file(data, name=file.name)
    except (OSError, UnreadableInput, UnicodeDecodeError) as error:
        fail(f"cannot read {file}: {error}", as_json=as_json)
    url = ensure_database()
    with steps.step(f"storing {len(parsed.orders):,} orders"), session_scope(url) as session:
        summary = store_orders(session, parsed=parsed)

    def text() -> str:
        lines = [
            f"{summary['orders']} orders in {summary['rows']} rows: {summary['imported']} "
            f"imported, {summary['already_known']} already known, "
            f"{len(summary['rejected'])} rows rejected"
        ]
        lines += rejected_lines(summary["rejected"])
        if warnings := summary["warnings"]:
            plural = "s" if len(warnings) > 1 else ""
            lines.append(f"{len(warnings)} warning{plural} (the orders were imported):")
            lines += rejected_lines(warnings)
        return "\n".join(lines)

    emit(summary, as_json=as_json, text=text)
    if summary["rejected"]:
        raise typer.Exit(int(Exit.ITEMS_FAILED))


@app.command("show")
def show(order_no: str, as_json: bool = JsonOption) -> None:
    """The order with its parcels and protocol (mail, confirmations, arrival)."""
    url = ensure_database()
    with session_scope(url) as session:
        order = get_order(session, order_no=order_no)
        if order is None:
            fail(f"no order {order_no!r} (order number or portal order id)", as_json=as_json)
        protocol = order_protocol(session, order=order)
    emit(protocol, as_json=as_json, text=lambda: format_protocol(protocol))


def format_protocol(p: dict[str, Any]) -> str:
    o = p["order"]
    lines = [
        f"Order {o['order_no']} · {o['portal']}/{o['portal_account']} {o['portal_order_id']} "
        f"· {o['status']}",
        f"  buyer: {_buyer(o)} · {o['country']} · {o['language']}",
        "  items:",
        *(
            f"    {i['quantity']} × {i['sku']} {i['title']} (item {i['item_id']})"
            for i in p["items"]
        ),
        "  parcels:" if p["parcels"] else "  parcels: none yet",
        *(line for x in p["parcels"] for line in _parcel_lines(x)),
        *(
            f"  shipping mail {m['status']} · bounce {m['bounce_class']}: "
            f"{ADVICE[m['bounce_class']]}"
            for m in p["mails"]
            if m.get("bounce_class") in ADVICE
        ),
        "  protocol:",
        *(
            f"    {e['at'].astimezone(BUSINESS_TZ):%Y-%m-%d %H:%M:%S}  {e['what']}"
            for e in p["timeline"]
        ),
    ]
    return "\n".join(lines)


def _buyer(o: dict[str, Any]) -> str:
    if o.get("anonymised_at"):
        return f"anonymised on {o['anonymised_at'].astimezone(BUSINESS_TZ):%Y-%m-%d}"
    return f"{o['buyer_name']} <{o['buyer_email']}>"


def _parcel_lines(x: dict[str, Any]) -> list[str]:
    lines = [
        f"    {x['carrier']} {x['tracking_number'] or UNTRACKED} shipped {x['ship_date']} "
        f"({x['source']})"
    ]
    if x["delivery_status"]:
        status = f"      delivery status: {x['delivery_status']} ({x['status_source']})"
        if x["expected_delivery"]:
            status += f", expected {x['expected_delivery']}"
        lines.append(status)
    lines += [
        f"      {e['at'].astimezone(BUSINESS_TZ):%Y-%m-%d %H:%M}  {e['status']:<16} "
        f"{e['text'] or e['code']}" + (f" · {e['location']}" if e["location"] else "")
        for e in x["events"]
    ]
    return lines


def _one_of(option: str, value: str | None, allowed: list[str], *, as_json: bool) -> str | None:
    if value is None:
        return None
    if value.lower() not in allowed:
        fail(f"{option} {value!r}: one of {', '.join(allowed)}", as_json=as_json)
    return value.lower()


def _day(option: str, value: str | None, *, as_json: bool) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option} {value!r}: not a date; write YYYY-MM-DD", as_json=as_json)


@app.command("list")
def list_(
    status: str = typer.Option(None, "--status", help="open, shipped, arrived, cancelled."),
    portal: str = typer.Option(None, "--portal", help="amazon, ebay, kaufland, hood, ..."),
    carrier: str = typer.Option(None, "--carrier", help="Orders with a parcel of this carrier."),
    mail: str = typer.Option(
        None, "--mail", help="Shipping mail state: pending, sent, failed, suppressed, none."
    ),
    bounce: str = typer.Option(
        None,
        "--bounce",
        help="Shipping mails refused or bounced for this reason: " + ", ".join(BOUNCE_CLASSES),
    ),
    confirmation: list[str] = typer.Option(
        None,
        "--confirmation",
        help="A confirmation state: red (rejected or failed), pending, ..., held; "
        "PORTAL=STATUS for one portal, e.g. ebay=failed (repeat: all of them).",
    ),
    search: str = typer.Option(
        None,
        "--search",
        "-s",
        help="Start of the order no or portal order id; part of the buyer name or email or "
        "of a tracking number (from 3 characters).",
    ),
    created_from: str = typer.Option(None, "--created-from", help="Created on or after (date)."),
    created_to: str = typer.Option(None, "--created-to", help="Created on or before (date)."),
    shipped_from: str = typer.Option(None, "--shipped-from", help="Shipped on or after (date)."),
    shipped_to: str = typer.Option(None, "--shipped-to", help="Shipped on or before (date)."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many (newest)."),
    as_json: bool = JsonOption,
) -> None:
    """Orders, newest first, filtered as the web app's list; with a count of all that match.

    Dates are YYYY-MM-DD, German business days."""
    from core.carriers.numbers import UnknownCarrier, get_carrier

    try:
        pairs = confirmation_filters(confirmation or [])
        carrier_code = get_carrier(carrier).code if carrier else None
    except (ValueError, UnknownCarrier) as error:
        fail(str(error), as_json=as_json)
    order_filter = OrderFilter(
        status=_one_of("--status", status, list(OrderStatus), as_json=as_json),
        portal=_one_of("--portal", portal, list(Portal), as_json=as_json),
        carrier=carrier_code,
        created_from=_day("--created-from", created_from, as_json=as_json),
        created_to=_day("--created-to", created_to, as_json=as_json),
        shipped_from=_day("--shipped-from", shipped_from, as_json=as_json),
        shipped_to=_day("--shipped-to", shipped_to, as_json=as_json),
        search=search,
        mail=_one_of("--mail", mail, [*MailStatus, NO_MAIL], as_json=as_json),
        bounce=_one_of("--bounce", bounce, list(BOUNCE_CLASSES), as_json=as_json),
        confirmations=pairs,
    )
    url = ensure_database()
    with session_scope(url) as session:
        orders, total = list_orders(session, order_filter=order_filter, limit=limit)
    result = {"total": total, "shown": len(orders), "orders": [asdict(o) for o in orders]}

    def text() -> str:
        lines = [
            f"{o.order_no:12} {o.portal}/{o.portal_account} {o.portal_order_id} · {o.status} · "
            f"{o.buyer_name} · mail {o.mail or 'none'}"
            + "".join(f" · {p} {s}" for p, s in sorted(o.confirmations.items()))
            + (f" · {', '.join(o.parcels)}" if o.parcels else "")
            for o in orders
        ]
        more = f" (the newest {len(orders)} shown; --limit for more)" if total > len(orders) else ""
        return "\n".join([*lines, f"{total} order{'s' if total != 1 else ''}{more}"])

    emit(result, as_json=as_json, text=text)
