"""Rendering the shipping mail from templates, with the per-portal/per-carrier lookup chain."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    select_autoescape,
)

DEFAULT_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
PORTAL_LABELS = {
    "amazon": "Amazon",
    "ebay": "eBay",
    "kaufland": "Kaufland",
    "hood": "Hood.de",
    "rakuten": "Rakuten",
    "otto": "OTTO",
    "shop": "",
}


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def template_names(kind: str, portal: str, carrier: str, language: str, fmt: str) -> list[str]:
    """Most specific first: portal+carrier, portal, carrier, default."""
    return [
        f"mails/{kind}.{portal}.{carrier}.{language}.{fmt}.j2",
        f"mails/{kind}.{portal}.{language}.{fmt}.j2",
        f"mails/{kind}.{carrier}.{language}.{fmt}.j2",
        f"mails/{kind}.{language}.{fmt}.j2",
    ]


@cache
def make_environment(override_dir: Path | None = None) -> Environment:
    """One environment per template directory and process: every deliver batch used to build
    its own and compile the same templates again. `auto_reload` checks a template file's
    modification time whenever it is looked up (once per portal, carrier and language and
    batch), so an edited template is picked up by the next batch."""
    loaders = [FileSystemLoader(str(override_dir))] if override_dir else []
    loaders.append(FileSystemLoader(str(DEFAULT_TEMPLATES)))
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False
        ),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=True,
    )


class MailRenderer:
    """Renders mails; templates are looked up once per (portal, carrier, language)."""

    def __init__(self, override_dir: Path | None = None, kind: str = "shipped") -> None:
        self.env = make_environment(override_dir)
        self.kind = kind
        self._chosen: dict[tuple[str, str, str], tuple[Template, Template]] = {}

    def templates(self, portal: str, carrier: str, language: str) -> tuple[Template, Template]:
        key = (portal, carrier, language)
        chosen = self._chosen.get(key)
        if chosen is None:
            text = self.env.select_template(
                template_names(self.kind, portal, carrier, language, "txt")
            )
            html = self.env.select_template(
                template_names(self.kind, portal, carrier, language, "html")
            )
            chosen = self._chosen[key] = (text, html)
        return chosen

    def render(
        self, context: dict[str, Any], *, portal: str, carrier: str, language: str
    ) -> RenderedMail:
        text_template, html_template = self.templates(portal, carrier, language)
        module = text_template.make_module(context)
        subject = str(getattr(module, "subject", "")).strip()
        if not subject:
            raise ValueError(f"template {text_template.name} sets no subject")
        return RenderedMail(subject, str(module), html_template.render(context))
