"""`liefern`: the command line (DESIGN: CLI)."""

from __future__ import annotations

import typer

from cli import (
    actions_cmd,
    bounces_cmd,
    check_cmd,
    close_day_cmd,
    db_cmd,
    deliver_cmd,
    demo_cmd,
    orders_cmd,
    portals_cmd,
    problems_cmd,
    retention_cmd,
    serve_cmd,
    track_cmd,
    tracking_cmd,
    tracking_fix_cmd,
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
# Plain click help: typer's rich help shows every flag with a type, `--dry-run <bool>`, which
# reads as if it took a value. One switch for the group and each sub-group (read at first call).
for _group in (
    app,
    db_cmd.app,
    orders_cmd.app,
    tracking_cmd.app,
    deliver_cmd.mails_app,
    portals_cmd.app,
    retention_cmd.app,
):
    _group.rich_markup_mode = None
app.add_typer(db_cmd.app, name="db")
app.add_typer(orders_cmd.app, name="orders")
app.add_typer(tracking_cmd.app, name="tracking")
app.add_typer(deliver_cmd.mails_app, name="mails")
app.add_typer(portals_cmd.app, name="portals")
app.add_typer(retention_cmd.app, name="retention")
app.command("deliver")(deliver_cmd.deliver)
app.command("close-day")(close_day_cmd.close_day)
app.command("track")(track_cmd.track)
app.command("check")(check_cmd.check)
app.command("problems")(problems_cmd.problems)
app.command("serve")(serve_cmd.serve)
app.command("demo")(demo_cmd.demo)
# registered on their groups: `mails resend|bounces`, `portals retry`, `tracking correct|remove`
assert actions_cmd.resend is not None and tracking_fix_cmd.correct is not None
assert bounces_cmd.bounces is not None


def run() -> None:
    app()


if __name__ == "__main__":
    run()
