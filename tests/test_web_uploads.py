"""The upload API: bearer login, limits while reading, CSV only, dedupe, and the import result."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app as cli_app
from core.archive import sha256_of
from core.settings import Settings
from db.models import Parcel, TrackingImport
from db.queries.locks import try_acquire
from db.session import session_scope
from simulators.samples import tracking_csv
from tests.helpers import seed_orders
from tests.test_web_app import API_TOKEN, WebClient, web_settings
from web import uploads
from web.app import create_app
from web.imports import drain

BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
BAD_ROW = b"AU100001;dhl;3.40434E+17;\n"


@pytest.fixture
def client(settings: Settings) -> Iterator[WebClient]:
    yield WebClient(create_app(web_settings(settings, max_upload_bytes=20_000)))
    drain(timeout=120)  # no import run of this test may outlive its database


def tracking_file(settings: Settings, count: int = 6) -> bytes:
    samples = seed_orders(settings.db_url, count)
    return tracking_csv(samples) + BAD_ROW


def upload(
    client: WebClient,
    data: bytes,
    name: str = "tracking.csv",
    headers: dict[str, str] | None = None,
    **fields: str,
) -> Any:
    return client.post(
        "/api/tracking-imports",
        files={"file": (name, data, "text/csv")},
        data=fields,
        headers=BEARER if headers is None else headers,
    )


def wait_until_finished(client: WebClient, import_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        result: dict[str, Any] = client.get(
            f"/api/tracking-imports/{import_id}", headers=BEARER
        ).json()
        if result["status"] in ("done", "failed"):
            return result
        time.sleep(0.1)
    raise AssertionError(f"import {import_id} did not finish")


def counts(settings: Settings) -> tuple[int, int]:
    with session_scope(settings.db_url) as session:
        imports = session.scalar(select(func.count(TrackingImport.id)))
        parcels = session.scalar(select(func.count(Parcel.id)))
    return int(imports or 0), int(parcels or 0)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {API_TOKEN}"}],
)
def test_an_upload_without_the_right_token_is_refused(
    settings: Settings, client: WebClient, headers: dict[str, str]
) -> None:
    response = upload(client, b"order_no;carrier;tracking_number\n", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert counts(settings) == (0, 0)


def test_reading_an_import_needs_the_token_too(client: WebClient) -> None:
    assert client.get("/api/tracking-imports/1").status_code == 401


def test_a_file_over_the_limit_is_refused_with_413(settings: Settings, client: WebClient) -> None:
    big = b"order_no;carrier;tracking_number\n" + b"AU100001;dhl;00340434000000000000\n" * 1000
    response = upload(client, big)
    assert response.status_code == 413
    assert "20000" in response.json()["error"]
    assert counts(settings) == (0, 0)
    assert not settings.archive_dir.exists() or not any(settings.archive_dir.rglob("*.csv"))


def test_the_limit_holds_without_a_content_length(settings: Settings, client: WebClient) -> None:
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()

    async def body() -> Any:  # streamed in chunks: no Content-Length header is sent
        yield head
        for _ in range(100):
            yield b"AU100001;dhl;00340434000000000000\n" * 10
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/api/tracking-imports",
        content=body(),
        headers={**BEARER, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert counts(settings) == (0, 0)


NOT_TEXT = [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01",
    b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",  # an .xlsx is a zip file
    b"order_no;carrier\n\x01\x02\x03\x04\x05\x06",
    b"order_no;carrier\nAU1;\x81\x8d\x8f\x90\x9d\n",  # neither UTF-8 nor Windows-1252
]


def test_binary_content_is_refused_with_415(settings: Settings, client: WebClient) -> None:
    for data in NOT_TEXT:
        response = upload(client, data, name="tracking.csv")
        assert response.status_code == 415, data
    assert counts(settings) == (0, 0)


@pytest.mark.parametrize(
    ("fields", "words"),
    [({"carrier": "pigeon"}, "unknown carrier"), ({"format": "excel"}, "unknown format")],
)
def test_unknown_carrier_or_format_is_a_400_that_names_it(
    settings: Settings, client: WebClient, fields: dict[str, str], words: str
) -> None:
    response = upload(client, b"order_no;tracking_number\nAU1;1\n", **fields)
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert counts(settings) == (0, 0)


def test_a_form_without_a_file_is_a_400(client: WebClient) -> None:
    response = client.post("/api/tracking-imports", data={"carrier": "dhl"}, headers=BEARER)
    assert response.status_code == 400


def test_an_unknown_import_is_a_json_404(client: WebClient) -> None:
    response = client.get("/api/tracking-imports/424242", headers=BEARER)
    assert response.status_code == 404
    assert response.json() == {"error": "no tracking import 424242"}


@pytest.mark.usefixtures("prefect_harness")
def test_an_upload_is_queued_then_imported_with_its_rejected_rows(
    settings: Settings, client: WebClient
) -> None:
    data = tracking_file(settings)
    response = upload(client, data)
    assert response.status_code == 202
    answer = response.json()
    assert answer == {
        "import_id": answer["import_id"],
        "status": "queued",
        "duplicate": False,
        "url": f"/api/tracking-imports/{answer['import_id']}",
    }
    assert response.headers["location"] == answer["url"]
    result = wait_until_finished(client, answer["import_id"])
    assert result["status"] == "done" and result["error"] is None
    assert result["rows"] == data.count(b"\n") - 1
    assert result["imported"] == result["rows"] - 1
    assert [r["code"] for r in result["rejected"]] == ["scientific_notation"]
    assert counts(settings) == (1, result["imported"])


@pytest.mark.usefixtures("prefect_harness")
def test_the_same_file_uploaded_twice_is_imported_once(
    settings: Settings, client: WebClient
) -> None:
    data = tracking_file(settings)
    first = upload(client, data).json()
    wait_until_finished(client, first["import_id"])
    parcels_after_first = counts(settings)[1]
    second = upload(client, data, name="renamed.csv")
    assert second.status_code == 202
    assert second.json()["import_id"] == first["import_id"]
    assert second.json()["duplicate"] is True
    assert counts(settings) == (1, parcels_after_first)


@pytest.mark.usefixtures("prefect_harness")
def test_the_same_file_sent_at_once_to_two_web_processes_is_imported_once(
    settings: Settings, client: WebClient
) -> None:
    # two apps stand for two web processes: only the database keeps them apart
    other = WebClient(create_app(web_settings(settings, max_upload_bytes=20_000)))
    data = tracking_file(settings)
    start = threading.Barrier(6)

    def send(index: int) -> dict[str, Any]:
        start.wait()
        answer = upload(client if index % 2 else other, data, name=f"copy-{index}.csv")
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(send, range(6)))
    assert len({a["import_id"] for a in answers}) == 1
    assert sorted(a["duplicate"] for a in answers) == [False] + [True] * 5
    wait_until_finished(client, answers[0]["import_id"])
    assert counts(settings)[0] == 1


def test_a_file_held_by_a_stuck_request_gets_try_again_not_a_second_import(
    settings: Settings, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tracking_file(settings)
    with session_scope(settings.db_url) as session:  # a web process that died mid-way
        try_acquire(
            session,
            name=f"upload:{sha256_of(data)[:48]}",
            owner="dead-process",
            ttl=timedelta(minutes=2),
        )
    monkeypatch.setattr(uploads, "REGISTER_WAIT_SECONDS", 0.3)
    answer = upload(client, data)
    assert answer.status_code == 503
    assert "send it again in a few minutes" in answer.json()["error"]
    assert counts(settings)[0] == 0


@pytest.mark.usefixtures("prefect_harness")
def test_a_path_in_the_file_name_is_cut_off(settings: Settings, client: WebClient) -> None:
    response = upload(client, tracking_file(settings), name="../../../etc/cron.d/evil name.csv")
    result = wait_until_finished(client, response.json()["import_id"])
    with session_scope(settings.db_url) as session:
        record = session.get(TrackingImport, result["import_id"])
        assert record is not None
        assert record.file_name == "evil_name.csv"
        archived = Path(record.archive_path).resolve()
    assert archived.is_relative_to(settings.archive_dir.resolve())
    assert archived.name.endswith("-evil_name.csv")


@pytest.mark.usefixtures("prefect_harness")
def test_a_windows_1252_export_is_accepted(settings: Settings, client: WebClient) -> None:
    lines = tracking_file(settings).decode().splitlines()
    rows = [lines[0] + ";Empfänger"] + [line + ";Jörg Müller" for line in lines[1:]]
    data = "\r\n".join(rows).encode("cp1252") + b"\r\n"
    response = upload(client, data)
    assert response.status_code == 202
    result = wait_until_finished(client, response.json()["import_id"])
    assert (result["status"], result["rows"]) == ("done", len(rows) - 1)
    assert result["imported"] == len(rows) - 2  # all but the bad row


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_the_result_has_the_shape_of_the_cli_json(
    settings: Settings, client: WebClient, tmp_path: Path
) -> None:
    data = tracking_file(settings)
    uploaded = wait_until_finished(client, upload(client, data).json()["import_id"])
    (tmp_path / "same.csv").write_bytes(data)
    cli = CliRunner().invoke(cli_app, ["tracking", "import", str(tmp_path / "same.csv"), "--json"])
    report = json.loads(cli.stdout)
    assert set(uploaded) == set(report) | {"status", "error"}
    assert uploaded["rows"] == report["rows"]
    assert uploaded["rejected"] == report["rejected"]
    assert uploaded["imported"] == report["already_known"]


@pytest.mark.usefixtures("prefect_harness")
def test_with_a_prefect_api_the_upload_becomes_one_run_of_the_upload_deployment(
    settings: Settings, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_API_URL

    from flows.tracking_import import tracking_import

    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    deployment_id = tracking_import.to_deployment(name="tracking-import-upload").apply()
    try:
        data = tracking_file(settings)
        first = upload(client, data, carrier="DHL").json()
        again = upload(client, data).json()
        with get_client(sync_client=True) as prefect:
            runs = prefect.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
    finally:
        with get_client(sync_client=True) as prefect:
            prefect.delete_deployment(deployment_id)
    assert len(runs) == 1
    (run,) = runs
    with session_scope(settings.db_url) as session:
        record = session.get(TrackingImport, first["import_id"])
        assert record is not None
        archived, digest, status = record.archive_path, record.sha256, record.status
    assert run.parameters == {
        "file": archived,
        "file_format": None,
        "carrier": "dhl",
        "source": "upload",
        "file_name": "tracking.csv",
        "import_id": first["import_id"],
    }
    assert "trigger:upload" in run.tags and run.idempotency_key == f"upload-{digest}"
    assert status == "queued"  # nothing ran here: the deployment's worker will
    assert (again["import_id"], again["duplicate"]) == (first["import_id"], True)


@pytest.mark.usefixtures("prefect_harness")
def test_without_the_upload_deployment_the_import_runs_in_the_web_process(
    settings: Settings,
    client: WebClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    caplog.set_level("WARNING", logger="liefern.web.imports")
    response = upload(client, tracking_file(settings))
    result = wait_until_finished(client, response.json()["import_id"])
    assert result["status"] == "done" and result["imported"] > 0
    assert "tracking-import/tracking-import-upload not found" in caplog.text


@pytest.mark.usefixtures("prefect_harness")
def test_an_upload_left_queued_by_a_stopped_process_is_imported_at_start(
    settings: Settings, client: WebClient
) -> None:
    import asyncio

    from core.archive import archive_file
    from db.queries.imports import create_import

    digest, archived = archive_file(
        settings.archive_dir, data=tracking_file(settings), file_name="left.csv"
    )
    with session_scope(settings.db_url) as session:
        import_id = create_import(
            session,
            file_name="left.csv",
            sha256=digest,
            archive_path=str(archived),
            file_format=None,
            carrier=None,
            source="upload",
            status="queued",
        )

    async def start_and_wait() -> dict[str, Any]:
        async with client.app.router.lifespan_context(client.app):
            return await asyncio.to_thread(wait_until_finished, client, import_id)

    result = asyncio.run(start_and_wait())
    assert result["status"] == "done" and result["imported"] > 0
