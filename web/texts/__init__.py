"""The operator pages' texts, one catalogue module per language (`de`, `en`).

Both catalogues have the same keys (a test holds them to it); templates reach them as `t.<key>`
and the labels of stored codes (statuses, mail states, timeline kinds) through `label()`.
"""

from __future__ import annotations

from web.texts import de, en

CATALOGUES: dict[str, dict[str, str]] = {"de": de.TEXTS, "en": en.TEXTS}
LABELS: dict[str, dict[str, dict[str, str]]] = {"de": de.LABELS, "en": en.LABELS}
