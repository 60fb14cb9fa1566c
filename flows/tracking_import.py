"""Flow: import a tracking-number file (CLI, upload, or by hand from the Prefect UI).

A file that cannot be read ends the run `Failed` with the reason as its message and the import
`failed` with it as its error: one line for the operator, no traceback, since nothing broke
but the file. Whatever else stops the run still marks the import `failed` before it goes on:
no import is left `running` by a run that ended.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from core.clock import business_today
from core.problems import UnreadableInput
from core.run_verdict import WITH_PROBLEMS
from core.settings import get_settings
from core.tracking_csv import TrackingTable, read_tracking_file
from db.models import TrackingImport
from db.queries.imports import list_rejections
from db.session import session_scope
from flows.labels import label_run
from flows.results import RejectedRow, TrackingImportResult
from tasks.parcels import BatchOutcome
from tasks.tracking_import import (
    claim_registered_import,
    close_import,
    import_batch,
    register_import,
)

REJECTED_ROWS_IN_ARTIFACT = 1000


def _run_name() -> str:
    params = flow_run.parameters
    name = Path(str(params.get("file_name") or params.get("file", "file"))).name
    return f"tracking-import-{params.get('source', 'cli')}-{name}"


# async, though its work is synchronous: Prefect ends a synchronous flow run by joining its
# heartbeat thread, which sleeps in whole seconds (about a second per import, measured)
@flow(name="tracking-import", flow_run_name=_run_name)
async def tracking_import(
    file: str,
    file_format: str | None = None,
    carrier: str | None = None,
    source: str = "cli",
    file_name: str | None = None,
    import_id: int | None = None,
) -> TrackingImportResult:
    """Read a CSV of tracking numbers and attach parcels to orders, batch by batch."""
    logger = get_run_logger()
    settings = get_settings()
    db_url = settings.db_url
    path = Path(file)
    run_id = str(flow_run.id) if flow_run.id else None
    await label_run(carriers=[carrier] if carrier else None)
    if import_id is None:
        import_id = register_import(
            db_url,
            settings.archive_dir,
            data_path=path,
            file_name=file_name or path.name,
            file_format=file_format,
            carrier=carrier,
            source=source,
            flow_run_id=run_id,
        )
    elif not claim_registered_import(db_url, import_id=import_id, flow_run_id=run_id):
        return _summary(db_url, import_id)
    try:
        table = read_tracking_file(path.read_bytes(), file_format=file_format, carrier=carrier)
    except (UnreadableInput, OSError) as error:
        reason = str(error) if isinstance(error, UnreadableInput) else _cannot_open(path, error)
        close_import(db_url, import_id=import_id, rows=0, outcome=BatchOutcome(), error=reason)
        logger.error("import %s: file not readable: %s", import_id, reason)
        # a returned state is the run's final state; callers get FailedRun(reason) raised
        return Failed(message=reason)  # type: ignore[return-value]
    rows, total = len(table.frame), BatchOutcome()
    try:
        _import_table(table, import_id, db_url, carrier, source, total)
    except BaseException as error:
        _close_stopped(db_url, import_id, rows, total, error)
        raise
    close_import(db_url, import_id=import_id, rows=rows, outcome=total)
    await _publish(import_id, rows, total)
    summary = _summary(db_url, import_id)
    if summary.rejected:  # the good rows went in; the bad ones need a look (README: states)
        message = f"{len(summary.rejected)} rows rejected (see the rejected-rows artifact)"
        return Completed(name=WITH_PROBLEMS, message=message, data=summary)  # type: ignore[return-value]
    return summary


def _import_table(
    table: TrackingTable,
    import_id: int,
    db_url: str,
    carrier: str | None,
    source: str,
    total: BatchOutcome,
) -> None:
    """Batch by batch; `total` adds up the committed batches (also when one fails)."""
    logger = get_run_logger()
    frame, rows = table.frame, len(table.frame)
    logger.info(
        "import %s: %d rows, encoding %s, delimiter %r, columns %s",
        import_id,
        rows,
        table.encoding,
        table.delimiter,
        table.headers,
    )
    today = business_today()
    batch = get_settings().import_batch_rows
    for start in range(0, rows, batch):
        outcome = import_batch(
            db_url,
            import_id=import_id,
            frame=frame.iloc[start : start + batch],
            headers=table.headers,
            preset=table.preset,
            carrier=carrier,
            today=today,
            source=source,
        )
        total.add(outcome)
        logger.info(
            "import %s: %d/%d rows done (%d imported, %d already known, %d rejected)",
            import_id,
            min(start + batch, rows),
            rows,
            total.imported,
            total.already_known,
            len(total.problems),
        )


def _cannot_open(path: Path, error: OSError) -> str:
    return f"cannot open {path.name}: {error.strerror or type(error).__name__}"


def _close_stopped(
    db_url: str, import_id: int, rows: int, total: BatchOutcome, error: BaseException
) -> None:
    """The run stops on an error of ours: the import says so instead of `running`, with
    the batches committed before (import the file again: they come back "already known")."""
    reason = f"the import stopped ({type(error).__name__}); see the flow run's log and import again"
    try:
        close_import.fn(db_url, import_id=import_id, rows=rows, outcome=total, error=reason)
    except Exception:  # the store itself is gone: the run's own error says more
        get_run_logger().exception("import %s: could not record the failure", import_id)


def _summary(db_url: str, import_id: int) -> TrackingImportResult:
    with session_scope(db_url) as session:
        record = session.get(TrackingImport, import_id)
        assert record is not None
        return TrackingImportResult(
            import_id=record.id,
            status=record.status,
            file_name=record.file_name,
            sha256=record.sha256,
            rows=record.rows,
            imported=record.imported,
            already_known=record.already_known,
            rejected=tuple(
                RejectedRow(r.row, r.column, r.value, r.code, r.message)
                for r in list_rejections(session, import_id=import_id)
            ),
            error=record.error,
        )


async def _publish(import_id: int, rows: int, total: BatchOutcome) -> None:
    shown = total.problems[:REJECTED_ROWS_IN_ARTIFACT]
    if shown:
        await acreate_table_artifact(
            key="tracking-import-rejected-rows",
            table=[p.as_dict() for p in shown],
            description=f"Import {import_id}: rejected rows"
            + (
                f" (first {len(shown)} of {len(total.problems)})"
                if len(shown) < len(total.problems)
                else ""
            ),
        )
    await acreate_markdown_artifact(
        key="tracking-import-summary",
        markdown=(
            f"### Tracking import {import_id}\n\n"
            f"| rows | imported | already known | rejected |\n|---|---|---|---|\n"
            f"| {rows} | {total.imported} | {total.already_known} | {len(total.problems)} |\n"
        ),
        description=f"Import {import_id}",
    )
