"""No configured secret ever shows: not in logs, not in errors, not in the Prefect protocol.

Secrets: the SMTP password in LIEFERN_SMTP_URL (also as AUTH LOGIN and AUTH PLAIN send it,
base64), LIEFERN_SECRET_KEY, every portal credential (client secrets, refresh tokens, API keys
and passwords, Hood's MD5 of its password), refused wrong ones as well, and the access tokens
the portals issue. A whole chain run with refused credentials, faults and retries is
captured at DEBUG level from every logger, with every error text the run produced and every
text column of the ledgers; a deliver flow run under Prefect is read back from the API (logs,
artifacts, parameters, task runs, states).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import quote
from uuid import UUID

import pytest
from sqlalchemy import select

from connectors.credentials import env_name
from connectors.smtp.sender import OutgoingMail, SmtpSender
from core.settings import Settings, parse_smtp_url, reset_settings
from db.models import Confirmation, ImportRejection, ShippingMail, TrackingImport
from db.session import session_scope
from simulators import ebay
from simulators.smtp import FaultySmtpServer
from tests.stress.chain import (
    RoundLog,
    World,
    import_tracking,
    one_round,
    open_world,
    run_until_quiet,
)
from tests.stress.invariants import check

SMTP_USER = "versand@beispiel-shop.de"
SMTP_PASSWORD = "Sm7p/Pässwort:%@#geheim"  # characters that need quoting in a URL
SECRET_KEY = "links-Secret-Key-9f8e7d6c5b4a"
# credentials the portals refuse: they must not show up either
WRONG = {
    ("kaufland", "secret_key"): "wrong-Kaufland-Secret-1",
    ("hood", "api_password"): "wrong-Hood-Password-2",
    ("rakuten", "key"): "wrong-Rakuten-Key-3",
    ("amazon", "refresh_token"): "Atzr|wrong-Amazon-Refresh-4",
    ("ebay", "refresh_token"): "wrong-eBay-Refresh-5",
}
# what issued access tokens start with (Amazon LWA, the eBay simulator)
TOKEN_MARKS = ("Atza|", "v^1.1#i^1#sim^")


def secret_forms(world: World) -> dict[str, str]:
    """Every secret of the world, in every form it travels in, by a name for the message."""
    forms = {
        "smtp password": SMTP_PASSWORD,
        "smtp password, url-quoted": quote(SMTP_PASSWORD, safe=""),
        "smtp password, AUTH LOGIN": base64.b64encode(SMTP_PASSWORD.encode()).decode(),
        "smtp credentials, AUTH PLAIN": base64.b64encode(
            f"\0{SMTP_USER}\0{SMTP_PASSWORD}".encode()
        ).decode(),
        "secret key": SECRET_KEY,
    }
    for name, value in world.env.items():
        secret = any(word in name for word in ("SECRET", "TOKEN", "PASSWORD", "_KEY"))
        if secret and "CLIENT_KEY" not in name:  # Kaufland's client key names the client
            forms[name] = value
        if name.endswith("_API_PASSWORD"):
            forms[f"{name} as MD5"] = hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()
    for (portal, field), value in WRONG.items():
        forms[f"refused {portal} {field}"] = value
    return forms


def leaks(text: str, forms: dict[str, str]) -> list[str]:
    found = [name for name, value in forms.items() if value and value in text]
    found += [f"an access token ({mark}...)" for mark in TOKEN_MARKS if mark in text]
    return found


def accounts_of(world: World, portal: str) -> list[str]:
    return sorted(a for a, p in world.portals.accounts.items() if p == portal)


@contextmanager
def secret_world(
    db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, orders: int
) -> Iterator[World]:
    with open_world(
        db_url, settings.home, orders=orders, seed=5, smtp_auth=(SMTP_USER, SMTP_PASSWORD)
    ) as world:
        world.env["LIEFERN_SECRET_KEY"] = SECRET_KEY
        for name, value in world.env.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        yield world


def ledger_texts(db_url: str) -> str:
    with session_scope(db_url) as session:
        texts = [
            *session.scalars(select(ShippingMail.last_reply)),
            *session.scalars(select(ShippingMail.reason)),
            *session.scalars(select(Confirmation.error_text)),
            *session.scalars(select(Confirmation.error_code)),
            *session.scalars(select(Confirmation.reference)),
            *session.scalars(select(TrackingImport.error)),
            *session.scalars(select(ImportRejection.message)),
        ]
    return "\n".join(t for t in texts if t)


@pytest.mark.slow
def test_a_chain_run_with_refused_credentials_and_faults_shows_no_secret(
    db_url: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    with secret_world(db_url, settings, monkeypatch, orders=60) as world:
        right = dict(world.env)
        for (portal, field), value in WRONG.items():
            for account in accounts_of(world, portal):
                monkeypatch.setenv(env_name(portal, account, field), value)
        world.smtp.fail_next(2, 451)
        world.portals.apps["amazon"].state.sim.fail_next("token", 500, 1)
        log = RoundLog()
        asyncio.run(one_round(db_url, world.tracking, log))  # every portal refuses
        refused = list(log.errors)
        for name, value in right.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        ebay.simulator(world.portals.apps["ebay"]).expire_access_tokens()
        run_until_quiet(db_url, world.tracking, log)
        facts = check(world, mail_copies_allowed=0)
        forms = secret_forms(world)
    facts.assert_clean()
    assert len(refused) >= 5, refused  # the refusals happened, and were reported
    captured = capsys.readouterr()
    texts = {
        "log records": "\n".join(
            f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
        ),
        "formatted log": caplog.text,
        "errors of the run": "\n".join(log.errors),
        "ledgers": ledger_texts(db_url),
        "stdout/stderr": captured.out + captured.err,
    }
    assert caplog.records, "nothing was logged: the capture is not working"
    for where, text in texts.items():
        assert not leaks(text, forms), f"{where} show {leaks(text, forms)}"


def test_a_refused_smtp_login_names_the_problem_not_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wrong/Pässwort:1"
    with FaultySmtpServer(auth=(SMTP_USER, SMTP_PASSWORD)) as server:
        url = f"smtp://{quote(SMTP_USER, safe='')}:{quote(wrong, safe='')}@127.0.0.1:{server.port}"
        target = parse_smtp_url(url)
        mail = OutgoingMail("1", "shop@example.de", ("buyer@example.de",), b"x\r\n", "<1@x.de>")

        async def send() -> str:
            async with SmtpSender(target, connections=1, backoff=0.01) as sender:
                [result] = await sender.send_many([mail])
                return f"{result.status} {result.reply} {sender!r} {target!r}"

        outcome = asyncio.run(send())
    assert outcome.startswith("deferred 535"), outcome  # waits for the fixed password
    for secret in (wrong, quote(wrong, safe=""), base64.b64encode(wrong.encode()).decode()):
        assert secret not in outcome + caplog.text


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_the_prefect_protocol_of_a_deliver_run_holds_no_secret(
    db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    from flows.deliver import deliver

    with secret_world(db_url, settings, monkeypatch, orders=30) as world:
        import_tracking(db_url, world.tracking)
        world.smtp.fail_next(1, 451)
        state: Any = asyncio.run(cast(Any, deliver)(return_state=True))
        assert state.is_completed(), state
        run_id = str(state.state_details.flow_run_id)
        asyncio.run(APILogHandler.aflush())
        forms = secret_forms(world)

    async def protocol() -> str:
        async with get_client() as client:
            logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
            )
            [run] = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
            )
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
            )
            states = await client.read_flow_run_states(UUID(run_id))
        assert logs and artifacts and tasks, "the run left no protocol to check"
        return "\n".join(
            [
                *(log.message for log in logs),
                *(json.dumps(a.data, default=str) + str(a.description) for a in artifacts),
                run.model_dump_json(),
                *(t.model_dump_json() for t in tasks),
                *(s.model_dump_json() for s in states),
            ]
        )

    text = asyncio.run(protocol())
    assert re.search(r"mail sent", text), "the mail log lines are part of the protocol"
    assert not leaks(text, forms), leaks(text, forms)
