"""`liefern`: the command line (DESIGN: CLI)."""

from __future__ import annotations

import typer

from cli import db_cmd, demo_cmd, orders_cmd, tracking_cmd

app = typer.Typer(
    name="liefern",
    help="Tracking numbers in, shipping mails out, every marketplace told.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(orders_cmd.app, name="orders")
app.add_typer(tracking_cmd.app, name="tracking")
app.command("demo")(demo_cmd.demo)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
