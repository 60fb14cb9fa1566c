"""The order list as CSV: what the operator filtered, every page, for a spreadsheet.

German Excel opens `;`-separated UTF-8 with BOM directly. Buyer names and emails are chosen by
strangers, so every cell that a spreadsheet would run as a formula starts with `'` (the rule of
the shipping list, core/shipping_list.py). Headers and words follow the operator's language;
dates stay ISO (`2026-12-04 15:20`, German time), which every spreadsheet sorts and reads.
"""

from __future__ import annotations

import csv
import io

from sqlalchemy.orm import Session

from core.shipping_list import neutralise_cell
from db.queries.order_filter import OrderFilter
from db.queries.web import OrderLine, order_page
from web.i18n import ISO, Ui, stamp

EXPORT_MAX_ORDERS = 100_000
EXPORT_BATCH = 2_000  # orders per statement round; keeps memory flat on a large export
COLUMNS = (
    "col_order",
    "portal",
    "col_portal_order_id",
    "col_buyer",
    "buyer_email",
    "country",
    "status",
    "col_parcels",
    "col_mail",
    "col_confirmations",
    "col_created",
    "shipped",
)


def _cells(line: OrderLine, ui: Ui) -> list[str]:
    parcels = " | ".join(f"{c} {n or ui.t['untracked']}" for c, n in line.parcels)
    confirmations = " | ".join(
        f"{c.portal} {c.account}: {c.status}" + (f" ({c.error_text})" if c.error_text else "")
        for c in line.confirmations
    )
    return [
        line.order_no,
        f"{line.portal} {line.portal_account}",
        line.portal_order_id,
        line.buyer_name,
        line.buyer_email,
        line.country,
        ui.label("order_status", line.status),
        parcels,
        line.mail_status or "",
        confirmations,
        stamp(line.created_at, ISO),
        stamp(line.shipped_at, ISO),
    ]


def orders_csv_bytes(session: Session, order_filter: OrderFilter, ui: Ui) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([ui.t[key] for key in COLUMNS])
    below_id: int | None = None
    for _batch in range(EXPORT_MAX_ORDERS // EXPORT_BATCH):
        lines, has_next = order_page(
            session, order_filter=order_filter, per_page=EXPORT_BATCH, below_id=below_id
        )
        session.expunge_all()  # the batch's orders are copied into lines; keep memory flat
        for line in lines:
            writer.writerow([neutralise_cell(cell) for cell in _cells(line, ui)])
        if not has_next or not lines:
            break
        below_id = lines[-1].order_id
    return buffer.getvalue().encode("utf-8-sig")
