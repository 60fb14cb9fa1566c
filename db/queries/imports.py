"""Queries about tracking imports and their rejected rows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.problems import RowProblem
from db.models import ImportRejection, TrackingImport
from db.types import utcnow


def create_import(
    session: Session,
    *,
    file_name: str,
    sha256: str,
    archive_path: str,
    file_format: str | None,
    carrier: str | None,
    source: str,
    flow_run_id: str | None = None,
    status: str = "running",
) -> int:
    record = TrackingImport(
        file_name=file_name,
        sha256=sha256,
        archive_path=archive_path,
        file_format=file_format,
        carrier=carrier,
        source=source,
        status=status,
        flow_run_id=flow_run_id,
    )
    session.add(record)
    session.flush()
    return record.id


def claim_import(session: Session, *, import_id: int, flow_run_id: str | None) -> str:
    """Start (or restart) a registered import; returns the status it had before.

    A restarted import drops the rejections of the attempt before, so they are not counted
    twice; parcels it already attached come back as "already known"."""
    from sqlalchemy import delete

    record = session.get(TrackingImport, import_id)
    if record is None:
        raise LookupError(f"no tracking import {import_id}")
    before = record.status
    if before != "done":
        session.execute(delete(ImportRejection).where(ImportRejection.import_id == import_id))
        record.status, record.flow_run_id = "running", flow_run_id
    return before


def add_rejections(session: Session, *, import_id: int, problems: Sequence[RowProblem]) -> None:
    if not problems:
        return
    session.execute(
        insert(ImportRejection),
        [
            {
                "import_id": import_id,
                "row": p.row,
                "column": p.column[:64],
                "value": p.value[:500],
                "code": p.code,
                "message": p.message[:500],
            }
            for p in problems
        ],
    )


def finish_import(
    session: Session,
    *,
    import_id: int,
    rows: int,
    imported: int,
    already_known: int,
    rejected: int,
    status: str = "done",
    error: str | None = None,
) -> None:
    record = session.get(TrackingImport, import_id)
    assert record is not None
    record.rows, record.imported = rows, imported
    record.already_known, record.rejected = already_known, rejected
    record.status, record.error = status, error
    record.finished_at = utcnow()


def get_import(session: Session, *, import_id: int) -> TrackingImport | None:
    return session.get(TrackingImport, import_id)


def list_rejections(session: Session, *, import_id: int) -> list[ImportRejection]:
    statement = (
        select(ImportRejection)
        .where(ImportRejection.import_id == import_id)
        .order_by(ImportRejection.row, ImportRejection.id)
    )
    return list(session.scalars(statement))


def latest_import_for_file(session: Session, *, sha256: str) -> TrackingImport | None:
    statement = (
        select(TrackingImport)
        .where(TrackingImport.sha256 == sha256)
        .order_by(TrackingImport.id.desc())
        .limit(1)
    )
    return session.scalars(statement).first()


def import_summary(session: Session, *, import_id: int) -> dict[str, object] | None:
    """The JSON of GET /api/tracking-imports/{id} (the flow's own answer, with the same
    fields, is flows/results.py TrackingImportResult)."""
    record = session.get(TrackingImport, import_id)
    if record is None:
        return None
    return {
        "import_id": record.id,
        "status": record.status,
        "file_name": record.file_name,
        "sha256": record.sha256,
        "rows": record.rows,
        "imported": record.imported,
        "already_known": record.already_known,
        "rejected": [
            {
                "row": r.row,
                "column": r.column,
                "value": r.value,
                "code": r.code,
                "message": r.message,
            }
            for r in list_rejections(session, import_id=import_id)
        ],
        "error": record.error,
    }
