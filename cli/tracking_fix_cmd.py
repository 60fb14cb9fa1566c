"""`liefern tracking correct ORDER_NO OLD NEW` and `liefern tracking remove ORDER_NO NUMBER`
(the functions underneath: tasks/tracking_fix.py)."""

from __future__ import annotations

import asyncio

import typer

from cli.actions_cmd import ByOption, answer, checked_setup, operator
from cli.output import JsonOption, fail
from cli.tracking_cmd import app
from core.carriers.numbers import TrackingNumberError, UnknownCarrier, get_carrier


@app.command("correct")
def correct(
    order_no: str = typer.Argument(..., help="Order number or portal order id."),
    old: str = typer.Argument(..., help="The tracking number that went out."),
    new: str = typer.Argument(..., help="The right tracking number."),
    carrier: str = typer.Option(None, "--carrier", help="The right carrier, if that was wrong."),
    by: str = ByOption,
    as_json: bool = JsonOption,
) -> None:
    """Replace a parcel's tracking number: portals updated where their API allows, the buyer
    gets a short correction mail."""
    try:
        code = get_carrier(carrier).code if carrier else None
    except UnknownCarrier as error:
        fail(str(error), as_json=as_json)
    url = checked_setup(as_json=as_json)
    from tasks.tracking_fix import correct_tracking

    try:
        result = asyncio.run(
            correct_tracking(
                url, order_no=order_no, old=old, new=new, by=operator(by), carrier=code
            )
        )
    except TrackingNumberError as error:
        fail(f"NEW {new!r}: {getattr(error, 'message', error)}", as_json=as_json)
    answer(result, as_json=as_json)


@app.command("remove")
def remove(
    order_no: str = typer.Argument(..., help="Order number or portal order id."),
    number: str = typer.Argument(..., help="The tracking number to take off the order."),
    by: str = ByOption,
    as_json: bool = JsonOption,
) -> None:
    """Take a parcel added by mistake off the order (before any portal was told of it)."""
    url = checked_setup(as_json=as_json)
    from tasks.tracking_fix import remove_tracking

    result = asyncio.run(remove_tracking(url, order_no=order_no, number=number, by=operator(by)))
    answer(result, as_json=as_json)
