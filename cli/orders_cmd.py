"""`liefern orders import FILE` and `liefern orders show ORDER_NO`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cli.output import Exit, JsonOption, emit, fail, rejected_lines
from cli.progress import Steps
from cli.runtime import ensure_database
from core.clock import BUSINESS_TZ
from core.orders_file import read_orders_file
from core.problems import UnreadableInput
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
        f"  buyer: {o['buyer_name']} <{o['buyer_email']}> · {o['country']} · {o['language']}",
        "  items:",
        *(
            f"    {i['quantity']} × {i['sku']} {i['title']} (item {i['item_id']})"
            for i in p["items"]
        ),
        "  parcels:" if p["parcels"] else "  parcels: none yet",
        *(
            f"    {x['carrier']} {x['tracking_number'] or UNTRACKED} shipped {x['ship_date']} "
            f"({x['source']})"
            for x in p["parcels"]
        ),
        "  protocol:",
        *(
            f"    {e['at'].astimezone(BUSINESS_TZ):%Y-%m-%d %H:%M:%S}  {e['what']}"
            for e in p["timeline"]
        ),
    ]
    return "\n".join(lines)
