"""`liefern serve`: everything a small seller runs on one machine.

A Prefect server with the deployments of prefect.yaml and a process worker (the schedules, the
runs started from the UI or by an upload, and their history: the operators' protocol), and the
web app (buyer arrival page, upload API, operator pages). Ctrl-C stops everything.
"""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType

import httpx
import typer

from cli.output import JsonOption, emit, fail, fail_setup
from cli.runtime import ensure_database, prepare_prefect
from core.settings import Settings, get_settings
from core.setup_error import SetupError


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    prefect_port: int = typer.Option(4200, help="Port of the Prefect server and UI."),
    prefect: bool = typer.Option(
        True,
        "--prefect/--no-prefect",
        help="Start a Prefect server, the deployments and a worker (off: web app only, "
        "e.g. when the server runs elsewhere and PREFECT_API_URL points to it).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Start the Prefect server with the deployments and a worker, and the web app."""
    import uvicorn

    settings = get_settings()
    try:
        settings.require_real_secret()
        settings.require_local_demo()
        ensure_database(settings)
    except SetupError as error:
        fail_setup(error, as_json=as_json)
    deliverability = _check_sender(settings)
    stack = None
    if prefect:
        from cli.local_stack import LocalPrefect

        stack = LocalPrefect(settings, port=prefect_port)
        try:
            _say(f"starting the Prefect server on {stack.api_url} (logs in {stack.log_dir}) …")
            stack.start_server()
            # on its own server every run of the pool was this machine's; a shared one (scale-out)
            # also holds other machines' runs, which no process list here can judge
            if not settings.prefect_database_url:
                stale = stack.crash_stale_runs()
                if stale:
                    _say(f"marked {len(stale)} run(s) left in flight by the last stop as Crashed")
            _say("creating the work pool and the deployments of prefect.yaml …")
            stack.deploy()
            _say("starting the worker liefern-worker …")
            stack.start_worker("liefern-worker")
        except (RuntimeError, httpx.HTTPError) as error:
            stack.stop()
            fail(f"{error} (logs in {stack.log_dir})", as_json=as_json)
        os.environ["PREFECT_API_URL"] = stack.api_url
    prepare_prefect(settings)
    _say(f"starting the web app on http://{host}:{port} …")
    from web.app import create_app, demo_logins
    from web.buyer import RedactBuyerLinks

    app = create_app(settings)
    logins = demo_logins(app)
    info = {
        "url": f"http://{host}:{port}",
        "prefect_ui": stack.api_url.removesuffix("/api") if stack else None,
        "public_url": settings.public_url,
        "demo": settings.demo,
        "deliverability": deliverability,
        **logins,
    }

    def text() -> str:
        lines = [f"liefern web on http://{host}:{port} (buyer links: {settings.public_url})"]
        if stack:
            lines.append(
                f"Prefect UI with the deployments: {info['prefect_ui']} "
                f"(server and worker logs in {stack.log_dir})"
            )
        if "operator_password" in logins:
            lines.append(
                f"demo login for /orders: {logins['operator_user']} / "
                f"{logins['operator_password']} (set LIEFERN_OPERATOR_PASSWORD to choose one)"
            )
        if "api_token" in logins:
            lines.append(
                f"demo API token: {logins['api_token']} (set LIEFERN_API_TOKEN to choose one)"
            )
        return "\n".join(lines)

    emit(info, as_json=as_json, text=text)
    logging.getLogger("uvicorn.access").addFilter(RedactBuyerLinks())
    # uvicorn re-raises SIGTERM after its shutdown: turn it into an exception so that the
    # Prefect server and worker are stopped too, as on Ctrl-C
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
    except KeyboardInterrupt:
        pass
    finally:
        if stack:
            stack.stop()


def _check_sender(settings: Settings) -> str:
    """SPF, DKIM and DMARC of the sender domain (`liefern check`): a warning on stderr with the
    fixes, never a refusal to start (DNS may be down, or the relay only relays inwards)."""
    from cli.check_cmd import report_lines
    from connectors.sender_auth.check import OK, check_sender

    try:
        report = check_sender(settings)
    except ValueError as error:
        _say(f"deliverability: not checked ({error})")
        return f"not checked ({error})"
    _say(f"deliverability: {report.summary()}")
    if report.level != OK:
        for line in report_lines(report, only_problems=True):
            _say(line)
        _say("  (`liefern check` repeats this check after a fix)")
    return report.summary()


def _say(step: str) -> None:
    """What serve is waiting for, on stderr (stdout carries the answer, or its JSON)."""
    typer.echo(step, err=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
