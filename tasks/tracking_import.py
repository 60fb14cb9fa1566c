"""Tasks of the tracking import: register the file, import batches, close the import."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from core.archive import archive_file
from core.crashpoints import crash_point
from core.settings import get_settings
from core.ship_dates import ShipDateWindow
from core.tracking_csv import Preset
from core.tracking_rows import RowValidator
from db.queries.imports import add_rejections, claim_import, create_import, finish_import
from db.session import session_scope
from db.types import utcnow
from tasks.parcels import BatchOutcome, attach_parcels
from tasks.retry_rule import retry_if_it_helps


@task(
    name="register-import",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=retry_if_it_helps,
    cache_policy=NO_CACHE,
)
def register_import(
    db_url: str,
    archive_dir: Path,
    *,
    data_path: Path,
    file_name: str,
    file_format: str | None,
    carrier: str | None,
    source: str,
    flow_run_id: str | None,
) -> int:
    """Archive the raw file with its sha256 and open an import record."""
    data = data_path.read_bytes()
    digest, archived = archive_file(archive_dir, data=data, file_name=file_name)
    with session_scope(db_url) as session:
        import_id = create_import(
            session,
            file_name=file_name,
            sha256=digest,
            archive_path=str(archived),
            file_format=file_format,
            carrier=carrier,
            source=source,
            flow_run_id=flow_run_id,
        )
    get_run_logger().info("import %s: %s (sha256 %s) archived", import_id, file_name, digest)
    return import_id


@task(
    name="claim-import",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=retry_if_it_helps,
    cache_policy=NO_CACHE,
)
def claim_registered_import(db_url: str, *, import_id: int, flow_run_id: str | None) -> bool:
    """An import registered by the upload: False when it already finished (nothing to do)."""
    with session_scope(db_url) as session:
        before = claim_import(session, import_id=import_id, flow_run_id=flow_run_id)
    get_run_logger().info("import %s: was %s", import_id, before)
    return before != "done"


def import_rows(
    db_url: str,
    *,
    import_id: int,
    frame: pd.DataFrame,
    headers: dict[str, str],
    preset: Preset,
    carrier: str | None,
    today: date,
    source: str,
) -> BatchOutcome:
    """Validate, match and insert one batch of rows in one transaction."""
    window = ShipDateWindow.ending(
        today, now=utcnow(), max_age_days=get_settings().ship_date_max_age_days
    )
    suffix = preset.ref_suffix

    def strip_suffix(ref: str) -> str | None:
        assert suffix is not None
        stripped = suffix.sub("", ref)
        return stripped if stripped != ref else None

    validator = RowValidator(
        headers=headers,
        default_carrier=carrier or preset.carrier,
        today=today,
        ref_suffix=strip_suffix if suffix else None,
        window=window,
    )
    with _collector_paused():
        return _import_rows(db_url, validator, frame, headers, import_id, source)


def _import_rows(
    db_url: str,
    validator: RowValidator,
    frame: pd.DataFrame,
    headers: dict[str, str],
    import_id: int,
    source: str,
) -> BatchOutcome:
    good, bad = validator.validate(frame)
    with session_scope(db_url) as session:
        outcome = attach_parcels(
            session,
            rows=good,
            source=source,
            import_id=import_id,
            order_column=headers["order_ref"],
            number_column=headers["tracking_number"],
        )
        outcome.problems = sorted([*bad, *outcome.problems], key=lambda p: p.row)
        add_rejections(session, import_id=import_id, problems=outcome.problems)
        crash_point("import.batch_inserted")  # parcels inserted, not committed
    crash_point("import.batch_committed")
    return outcome


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A batch makes hundreds of thousands of small tuples that all live until its commit: the
    cyclic garbage collector would rescan them again and again (a 1,000,000-row import took
    about a sixth longer with it), and none of them can form a cycle. It runs again, and
    catches up, after the batch."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


import_batch = task(name="import-batch", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)(
    import_rows
)


@task(
    name="finish-import",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=retry_if_it_helps,
    cache_policy=NO_CACHE,
)
def close_import(
    db_url: str, *, import_id: int, rows: int, outcome: BatchOutcome, error: str | None = None
) -> None:
    with session_scope(db_url) as session:
        finish_import(
            session,
            import_id=import_id,
            rows=rows,
            imported=outcome.imported,
            already_known=outcome.already_known,
            rejected=len(outcome.problems),
            status="failed" if error else "done",
            error=error,
        )
