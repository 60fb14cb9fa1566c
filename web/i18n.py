"""The operator's language: chosen per request, remembered in a cookie, shown in its style.

Order of precedence: `?lang=de|en` (the switch on every page, which also sets the cookie), then
the `liefern_lang` cookie, then the browser's Accept-Language, then English. Dates and numbers
follow the language: de `04.12.2026 15:20` and `1.234`, en `2026-12-04 15:20` and `1,234`
(always German business time, the clock the warehouse works by).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from core.clock import BUSINESS_TZ
from web.texts import CATALOGUES, LABELS

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "en"
ISO = "iso"  # the style of exports, whatever the operator's language
COOKIE = "liefern_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def from_accept_language(header: str | None) -> str | None:
    """The first of our languages the browser names, by its q-values (`de-DE,de;q=0.9,…`)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if language in LANGUAGES and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


def stamp(value: datetime | None, language: str) -> str:
    """A timestamp in German business time, in the operator's style (ISO's for `ISO`)."""
    if value is None:
        return ""
    local = value.astimezone(BUSINESS_TZ)
    return local.strftime("%d.%m.%Y %H:%M" if language == "de" else "%Y-%m-%d %H:%M")


def day(value: date | None, language: str) -> str:
    if value is None:
        return ""
    return value.strftime("%d.%m.%Y") if language == "de" else value.isoformat()


def number(value: int, language: str) -> str:
    grouped = f"{value:,}"
    return grouped.replace(",", ".") if language == "de" else grouped


@dataclass(frozen=True)
class Ui:
    """What a page needs of the operator's language: texts, formatters, the switch's links."""

    lang: str
    switch: dict[str, str]  # language -> this page's URL in it
    remember: bool  # chosen by the switch: set the cookie with the answer

    @property
    def t(self) -> dict[str, str]:
        return CATALOGUES[self.lang]

    def text(self, key: str, **values: Any) -> str:
        return self.t[key].format(**values)

    def label(self, kind: str, code: str | None) -> str:
        """The words for a stored code (status, timeline kind); the code itself if unknown."""
        return LABELS[self.lang].get(kind, {}).get(code or "", code or "")

    def stamp(self, value: datetime | None) -> str:
        return stamp(value, self.lang)

    def day(self, value: date | None) -> str:
        return day(value, self.lang)

    def number(self, value: int) -> str:
        return number(value, self.lang)

    def finish(self, response: HTMLResponse) -> HTMLResponse:
        response.headers["content-language"] = self.lang
        if self.remember:
            response.set_cookie(
                COOKIE, self.lang, max_age=COOKIE_MAX_AGE, httponly=True, samesite="lax"
            )
        return response


def operator_ui(request: Request) -> Ui:
    asked = request.query_params.get("lang", "").lower()
    cookie = request.cookies.get(COOKIE, "").lower()
    if asked in LANGUAGES:
        lang, remember = asked, asked != cookie
    elif cookie in LANGUAGES:
        lang, remember = cookie, False
    else:
        header = request.headers.get("accept-language")
        lang, remember = from_accept_language(header) or DEFAULT_LANGUAGE, False
    others = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    switch = {
        code: request.url.path + "?" + urlencode([*others, ("lang", code)]) for code in LANGUAGES
    }
    return Ui(lang, switch, remember)


OperatorUi = Annotated[Ui, Depends(operator_ui)]
