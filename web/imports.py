"""Starting the tracking-import flow for an uploaded file.

With a Prefect API (`PREFECT_API_URL`) the upload becomes a run of the deployment
`tracking-import/tracking-import-upload`, so it shows up, retries and is logged like every
scheduled run; the idempotency key makes a repeated start of the same file one run. Without
one (tests, the embedded setup) the flow runs here, in one background worker thread, so
uploads are imported one after the other and never hold up a request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from core.settings import get_settings
from db.queries.imports import finish_import, get_import
from db.session import session_scope
from flows.results import TrackingImportResult

DEPLOYMENT = "tracking-import/tracking-import-upload"
UPLOAD_TAGS = ["trigger:upload"]

log = logging.getLogger("liefern.web.imports")
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _worker() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracking-import")
        return _executor


def shutdown(wait: bool = True) -> None:
    """Stop the worker thread (app shutdown); queued imports stay `queued` in the store."""
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=wait, cancel_futures=not wait)


def drain(timeout: float | None = None) -> None:
    """Wait until every import started here so far has finished (tests, shutdown).

    The worker is a single thread, so a no-op queued now runs after all of them."""
    with _executor_lock:
        executor = _executor
    if executor is not None:
        executor.submit(lambda: None).result(timeout=timeout)


def start_import(
    import_id: int,
    path: Path,
    file_format: str | None,
    carrier: str | None,
    *,
    sha256: str | None = None,
    file_name: str | None = None,
) -> Future[Any] | None:
    """Start importing a registered (`queued`) upload; the Future of a local run, else None."""
    parameters: dict[str, Any] = {
        "file": str(path),
        "file_format": file_format,
        "carrier": carrier,
        "source": "upload",
        "file_name": file_name or path.name,
        "import_id": import_id,
    }
    if os.environ.get("PREFECT_API_URL") and _run_deployment(parameters, sha256 or str(import_id)):
        return None
    return _worker().submit(_run_here, parameters)


def resume_queued(db_url: str) -> int:
    """Start the uploads left `queued` by a stopped process; the number started."""
    from db.queries.web import queued_uploads

    with session_scope(db_url) as session:
        waiting = [
            (r.id, Path(r.archive_path), r.file_format, r.carrier, r.sha256, r.file_name)
            for r in queued_uploads(session)
        ]
    for import_id, path, file_format, carrier, sha256, file_name in waiting:
        log.info("import %s: still queued from before; starting it", import_id)
        start_import(import_id, path, file_format, carrier, sha256=sha256, file_name=file_name)
    return len(waiting)


def _run_deployment(parameters: dict[str, Any], key: str) -> bool:
    """True when the deployment run was created; False (logged) when there is none to use."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    try:
        run: Any = run_deployment(
            name=DEPLOYMENT,
            parameters=parameters,
            idempotency_key=f"upload-{key}",
            timeout=0,
            tags=UPLOAD_TAGS,
            as_subflow=False,
        )
    except ObjectNotFound:
        log.warning(
            "deployment %s not found; import %s runs in the web process instead",
            DEPLOYMENT,
            parameters["import_id"],
        )
        return False
    except Exception as error:  # API down or refusing: the upload must still be imported
        log.warning(
            "could not start deployment %s (%s); import %s runs in the web process instead",
            DEPLOYMENT,
            type(error).__name__,
            parameters["import_id"],
        )
        return False
    log.info("import %s: flow run %s created", parameters["import_id"], run.id)
    return True


def _run_here(parameters: dict[str, Any]) -> TrackingImportResult | None:
    from prefect.exceptions import FailedRun

    from flows.tracking_import import tracking_import

    import_id = parameters["import_id"]
    try:
        return asyncio.run(tracking_import(**parameters))
    except FailedRun as error:  # the file could not be read: the import says why
        log.info("import %s failed: %s", import_id, error)
        return None
    except Exception as error:
        log.warning("import %s failed: %s", import_id, type(error).__name__)
        try:
            _mark_failed_if_open(import_id, f"the import run failed: {type(error).__name__}")
        except Exception as also:  # the store itself is unreachable: nothing more to do here
            log.error(
                "import %s: could not record the failure (%s)", import_id, type(also).__name__
            )
        return None


def _mark_failed_if_open(import_id: int, reason: str) -> None:
    """A crashed run must not leave the upload `queued`/`running` for ever."""
    with session_scope(get_settings().db_url) as session:
        record = get_import(session, import_id=import_id)
        if record is not None and record.status in ("queued", "running"):
            finish_import(
                session,
                import_id=import_id,
                rows=record.rows,
                imported=record.imported,
                already_known=record.already_known,
                rejected=record.rejected,
                status="failed",
                error=reason,
            )
