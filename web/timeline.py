"""An order's protocol entries in the operator's language.

`db.queries.protocol` gives each entry an `event` and its `values` next to the CLI's English
sentence (`what`); an entry without them (an older kind) is shown by its `what`.
"""

from __future__ import annotations

from typing import Any

from db.queries.web import FlowRunRef
from web.i18n import Ui


def describe(ui: Ui, entry: dict[str, Any]) -> str:
    event, v = entry.get("event"), entry.get("values") or {}
    if event is None or f"ev_{event}" not in ui.t:
        return str(entry["what"])
    number = v.get("number") or ui.t["untracked"]
    if event == "parcel_added":
        via = ui.text("ev_via_import", id=v["import_id"]) if v.get("import_id") else v["source"]
        return ui.text("ev_parcel_added", carrier=v["carrier"], number=number, via=via)
    if event == "parcel_closed":
        return ui.text("ev_parcel_closed", carrier=v["carrier"], number=number)
    if event in ("mail", "correction_mail", "delay_mail"):
        said = ui.text(f"ev_{event}", status=ui.label("mail", v["status"]))
        if v["status"] == "sent":
            return said + ui.text("ev_mail_to", **v)
        return said + (f": {v['reason']}" if v.get("reason") else "")
    if event == "bounce":
        kind = ui.label("bounce", v["bounce_class"]) if v.get("bounce_class") else "?"
        return ui.text("ev_bounce", kind=kind, reply=v["reply"])
    if event == "confirmation":
        return _confirmation(ui, v)
    if event == "action":  # the detail is the action's own record, as the CLI wrote it
        action = ui.label("action", v["action"])
        return ui.text("ev_action", action=action, by=v["by"], detail=v["detail"])
    if event in ("release", "arrived", "arrived_carrier", "arrived_amazon"):
        return ui.text(f"ev_{event}", **v)
    return ui.text(f"ev_{event}")


def _confirmation(ui: Ui, v: dict[str, Any]) -> str:
    status = ui.label("confirmation_filter", v["status"])
    said = ui.text("ev_confirmation", portal=v["portal"], status=status)
    if v.get("number"):
        said += ui.text("ev_for", number=v["number"])
    elif v.get("carrier"):
        said += ui.text("ev_for_untracked", carrier=v["carrier"])
    if v.get("reference"):
        said += ui.text("ev_ref", reference=v["reference"])
    if v.get("error_text"):
        code = f"[{v['error_code']}] " if v.get("error_code") else ""
        said += f": {code}{v['error_text']}"
    return said


def run_what(ui: Ui, run: FlowRunRef) -> str:
    """What a flow run did to the order, e.g. "Versandmail, ebay-Bestätigung"."""
    return ", ".join(ui.text(f"run_{kind}", value=value) for kind, value in run.parts)
