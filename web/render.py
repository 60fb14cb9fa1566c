"""Page rendering: one autoescaped jinja2 environment, dates in German time, error pages.

Error pages are fixed texts: they never show an exception, a stack trace or request data.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core.clock import BUSINESS_TZ

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

# the error texts of every page a buyer may see, in both languages at once
ERROR_TEXTS: dict[int, tuple[str, str]] = {
    400: ("Die Anfrage ist unvollständig.", "The request is incomplete."),
    401: ("Bitte melden Sie sich an.", "Please log in."),
    403: ("Diese Anfrage wurde abgelehnt.", "This request was refused."),
    404: ("Diese Seite gibt es nicht.", "This page does not exist."),
    405: ("Diese Anfrage ist hier nicht möglich.", "This request is not possible here."),
    500: (
        "Ein Fehler ist aufgetreten. Bitte versuchen Sie es später noch einmal.",
        "Something went wrong. Please try again later.",
    ),
    503: ("Dieser Dienst ist gerade nicht verfügbar.", "This service is not available."),
}


def when(value: datetime | None, language: str = "iso") -> str:
    """A timestamp as people here read it: German time; `de`, `en` or ISO-like style."""
    if value is None:
        return ""
    local = value.astimezone(BUSINESS_TZ)
    if language == "de":
        return local.strftime("%d.%m.%Y um %H:%M Uhr")
    if language == "en":
        return local.strftime("%d %b %Y at %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def prefect_ui_url() -> str | None:
    """The Prefect UI: PREFECT_UI_URL, else PREFECT_API_URL without its `/api`, else none.

    Read per request, because `liefern serve` may start a Prefect server after the app."""
    ui = os.environ.get("PREFECT_UI_URL", "").strip()
    if ui:
        return ui.rstrip("/")
    api = os.environ.get("PREFECT_API_URL", "").strip().rstrip("/")
    if api:
        return api[: -len("/api")] if api.endswith("/api") else api
    return None


def flow_run_url(flow_run_id: str | None) -> str | None:
    base = prefect_ui_url()
    if not flow_run_id or base is None:
        return None
    return f"{base}/runs/flow-run/{flow_run_id}"


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
        undefined=StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.globals["flow_run_url"] = flow_run_url
    return env


class Pages:
    """Renders `templates/web/<name>.html.j2` into responses."""

    def __init__(self) -> None:
        self.env = make_environment()

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(f"web/{name}.html.j2").render(**context)

    def response(
        self,
        name: str,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        return HTMLResponse(self.render(name, **context), status_code, headers=headers)

    def error(
        self, status_code: int, headers: dict[str, str] | None = None, detail: str | None = None
    ) -> HTMLResponse:
        """A fixed bilingual error page; `detail` only for texts written by this app."""
        german, english = ERROR_TEXTS.get(status_code, ERROR_TEXTS[500])
        return self.response(
            "error",
            status_code,
            headers=headers,
            code=status_code,
            german=german,
            english=english,
            detail=detail,
        )
