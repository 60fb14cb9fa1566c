"""`liefern`: the command line (DESIGN: CLI)."""

from __future__ import annotations

import typer

from cli import (
    close_day_cmd,
    db_cmd,
    deliver_cmd,
    demo_cmd,
    orders_cmd,
    portals_cmd,
    serve_cmd,
    tracking_cmd,
)
from cli.output import SetupErrorsAsOneLine

app = typer.Typer(
    name="liefern",
    help="Tracking numbers in, shipping mails out, every marketplace told.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=SetupErrorsAsOneLine,
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(orders_cmd.app, name="orders")
app.add_typer(tracking_cmd.app, name="tracking")
app.add_typer(deliver_cmd.mails_app, name="mails")
app.add_typer(portals_cmd.app, name="portals")
app.command("deliver")(deliver_cmd.deliver)
app.command("close-day")(close_day_cmd.close_day)
app.command("serve")(serve_cmd.serve)
app.command("demo")(demo_cmd.demo)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
