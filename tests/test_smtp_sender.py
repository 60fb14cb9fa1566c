"""Bulk sending against real SMTP servers on loopback (simulators.smtp), faults included.

Every test runs a FaultySmtpServer in its own thread and sends through SmtpSender over TCP;
counts are exact: what the sender reports and what the server received must agree."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.smtp.message import build_message, make_message_id
from connectors.smtp.sender import OutgoingMail, SendResult, SmtpSender
from core.settings import SmtpTarget, parse_smtp_url
from simulators.server import free_port
from simulators.smtp import CaptureServer, FaultySmtpServer
from tests.helpers import self_signed_certificate

FAST: dict[str, Any] = {"backoff": 0.01, "timeout": 5.0, "local_hostname": "test.invalid"}


def mail(number: int, *, to: tuple[str, ...] | None = None) -> OutgoingMail:
    key = f"302-{number:07d}"
    recipients = to or (f"kunde{number}@example.org",)
    message_id = make_message_id(key, "beispiel-shop.de")
    data = build_message(
        sender="Beispiel-Shop <versand@beispiel-shop.de>",
        to_name=f"Jürgen Müller {number}",
        to_address=recipients[0],
        subject=f"Ihre Bestellung {key} ist unterwegs",
        text=f"Hallo Jürgen,\nIhre Bestellung {key} ist unterwegs.\n.\n",
        html=f"<p>Ihre Bestellung {key} ist unterwegs.</p>",
        message_id=message_id,
    )
    return OutgoingMail(key, "versand@beispiel-shop.de", recipients, data, message_id)


def send(target: SmtpTarget, mails: list[OutgoingMail], **options: Any) -> list[SendResult]:
    async def run() -> list[SendResult]:
        async with SmtpSender(target, **{**FAST, **options}) as sender:
            return await sender.send_many(mails)

    return asyncio.run(run())


def statuses(results: list[SendResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def message_ids(server: FaultySmtpServer) -> list[str]:
    return [
        str(email.message_from_bytes(data, policy=email.policy.default)["Message-ID"])
        for _, _, data in server.messages
    ]


@pytest.fixture
def server() -> Iterator[FaultySmtpServer]:
    with FaultySmtpServer() as running:
        yield running


@pytest.fixture
def target(server: FaultySmtpServer) -> SmtpTarget:
    return SmtpTarget(host="127.0.0.1", port=server.port)


# -- the plain path ------------------------------------------------------------------------------


def test_every_mail_is_sent_once_with_its_exact_bytes(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    mails = [mail(n) for n in range(12)]

    results = send(target, mails)

    assert [r.key for r in results] == [m.key for m in mails]
    assert statuses(results) == {"sent": 12}
    assert all(r.attempts == 1 and r.reply.startswith("250 ") for r in results)
    assert sorted(data for _, _, data in server.messages) == sorted(m.data for m in mails)
    assert sorted(rcpts[0] for _, rcpts, _ in server.messages) == sorted(
        m.recipients[0] for m in mails
    )
    assert {sender for sender, _, _ in server.messages} == {"versand@beispiel-shop.de"}


def test_connections_are_reused_for_many_mails(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    results = send(target, [mail(n) for n in range(90)], connections=3)

    assert statuses(results) == {"sent": 90}
    assert len(server.messages) == 90
    assert server.sessions == 3


def test_connections_stay_open_between_batches_inside_the_context(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    async def two_batches() -> list[SendResult]:
        async with SmtpSender(target, connections=2, **FAST) as sender:
            first = await sender.send_many([mail(n) for n in range(10)])
            second = await sender.send_many([mail(n) for n in range(10, 20)])
        return first + second

    results = asyncio.run(two_batches())

    assert statuses(results) == {"sent": 20}
    assert server.sessions == 2


def test_empty_batch_sends_nothing(server: FaultySmtpServer, target: SmtpTarget) -> None:
    assert send(target, []) == []
    assert server.sessions == 0


# -- permanent failures --------------------------------------------------------------------------


def test_550_for_one_recipient_fails_that_mail_only(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.reject_recipient("kunde3@example.org", 550, "5.1.1 <kunde3@example.org>: unknown")
    mails = [mail(n) for n in range(8)]

    results = send(target, mails)

    assert statuses(results) == {"sent": 7, "failed": 1}
    assert results[3] == SendResult(
        "302-0000003", "failed", "550 5.1.1 <kunde3@example.org>: unknown", 1
    )
    assert len(server.messages) == 7
    assert "kunde3@example.org" not in [rcpts[0] for _, rcpts, _ in server.messages]


def test_mail_to_several_recipients_goes_to_those_accepted(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.reject_recipient("weg@example.org")
    both = mail(1, to=("kunde1@example.org", "weg@example.org"))

    (result,) = send(target, [both])

    assert result.status == "sent"
    assert "weg@example.org: 550 5.1.1 Mailbox unavailable" in result.reply
    assert [rcpts for _, rcpts, _ in server.messages] == [["kunde1@example.org"]]


def test_554_after_data_fails_at_once_and_the_batch_goes_on(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.fail_next(1, 554, "5.7.1 Spam detected", stage="data")

    results = send(target, [mail(n) for n in range(4)], connections=1)

    assert results[0] == SendResult("302-0000000", "failed", "554 5.7.1 Spam detected", 1)
    assert statuses(results) == {"failed": 1, "sent": 3}
    assert len(server.messages) == 3
    assert server.sessions == 1


# -- temporary failures --------------------------------------------------------------------------


def test_451_is_retried_and_the_mail_sent_once(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.fail_next(1, 451, stage="data")

    (result,) = send(target, [mail(1)], connections=1)

    assert (result.status, result.attempts) == ("sent", 2)
    assert len(server.messages) == 1
    assert server.sessions == 1


def test_421_makes_the_sender_reconnect(server: FaultySmtpServer, target: SmtpTarget) -> None:
    server.fail_next(1, 421, stage="mail")

    results = send(target, [mail(1), mail(2)], connections=1)

    assert statuses(results) == {"sent": 2}
    assert sorted(r.attempts for r in results) == [1, 2]
    assert len(server.messages) == 2
    assert server.sessions == 2


def test_temporary_failures_are_deferred_after_max_attempts(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.fail_next(100, 450, stage="rcpt")

    (result,) = send(target, [mail(1)], max_attempts=3)

    assert (result.status, result.attempts) == ("deferred", 3)
    assert result.reply == "450 4.2.1 Mailbox busy, try again later"
    assert server.messages == []


def test_random_temporary_failures_still_deliver_each_mail_exactly_once(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.fail_randomly(0.3, 451, stage="data", seed=7)
    mails = [mail(n) for n in range(40)]

    results = send(target, mails, max_attempts=12, connections=3)

    assert statuses(results) == {"sent": 40}
    assert sum(r.attempts for r in results) > 40
    assert sorted(message_ids(server)) == sorted(m.message_id for m in mails)


def test_greeting_421_is_not_charged_to_a_mail(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.fail_next(1, 421, "4.7.0 Too many connections", stage="connect")

    (result,) = send(target, [mail(1)], connections=1)

    assert (result.status, result.attempts) == ("sent", 1)
    assert server.sessions == 2


def test_unreachable_server_defers_every_mail_without_trying_it() -> None:
    closed = SmtpTarget(host="127.0.0.1", port=free_port())

    results = send(closed, [mail(n) for n in range(5)], connections=2, max_attempts=2)

    assert statuses(results) == {"deferred": 5}
    assert all(r.attempts == 0 and r.reply.startswith("connect failed") for r in results)


# -- lost connections and timeouts ---------------------------------------------------------------


def test_drop_at_mail_from_is_retried_on_a_new_connection(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.drop_next(1, stage="mail")

    (result,) = send(target, [mail(1)], connections=1)

    assert (result.status, result.attempts) == ("sent", 2)
    assert len(server.messages) == 1
    assert server.sessions == 2


def test_drops_before_data_on_every_attempt_end_as_deferred_not_unknown(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.drop_next(3, stage="mail")

    (result,) = send(target, [mail(1)], connections=1, max_attempts=3)

    assert (result.status, result.attempts) == ("deferred", 3)
    assert result.reply.startswith("no answer:")
    assert server.messages == []


def test_drop_after_data_is_resent_with_the_same_message_id(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.drop_next(1, stage="data")
    one = mail(1)

    (result,) = send(target, [one], connections=1)

    assert (result.status, result.attempts) == ("sent", 2)
    assert result.reply.startswith("250 ")
    assert "no answer after DATA" in result.reply
    assert message_ids(server) == [one.message_id, one.message_id]


def test_drop_after_data_on_every_attempt_is_unknown(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.drop_next(3, stage="data")

    (result,) = send(target, [mail(1)], connections=1, max_attempts=3)

    assert (result.status, result.attempts) == ("unknown", 3)
    assert result.reply.startswith("no answer after DATA")
    assert len(server.messages) == 3


def test_slow_reply_times_out_and_is_retried(server: FaultySmtpServer, target: SmtpTarget) -> None:
    server.delay_next(1, 2.0, stage="mail")
    started = time.monotonic()

    (result,) = send(target, [mail(1)], connections=1, timeout=0.3)

    assert time.monotonic() - started < 1.5
    assert (result.status, result.attempts) == ("sent", 2)
    assert len(server.messages) == 1
    assert server.sessions == 2


def test_slow_reply_after_data_is_resent_and_reported(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.delay_next(1, 2.0, stage="data")

    (result,) = send(target, [mail(1)], connections=1, timeout=0.3)

    assert (result.status, result.attempts) == ("sent", 2)
    assert "no answer after DATA" in result.reply


# -- authentication ------------------------------------------------------------------------------


@pytest.fixture
def auth_server() -> Iterator[FaultySmtpServer]:
    with FaultySmtpServer(auth=("versand", "richtig-geheim")) as running:
        yield running


def test_login_with_the_right_password_sends(auth_server: FaultySmtpServer) -> None:
    target = parse_smtp_url(f"smtp://versand:richtig-geheim@127.0.0.1:{auth_server.port}")

    results = send(target, [mail(n) for n in range(3)], connections=1)

    assert statuses(results) == {"sent": 3}
    assert len(auth_server.messages) == 3


def test_wrong_password_defers_every_mail_after_one_login_and_is_never_logged(
    auth_server: FaultySmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    password = "falsch-und-geheim"
    target = SmtpTarget(
        host="127.0.0.1",
        port=auth_server.port,
        username="versand",
        password=SecretStr(password),
    )
    caplog.set_level(logging.DEBUG)

    results = send(target, [mail(n) for n in range(4)], connections=1)

    assert statuses(results) == {"deferred": 4}
    assert all(r.reply.startswith("535 ") and r.attempts == 0 for r in results)
    assert auth_server.messages == []
    assert auth_server.sessions == 1
    assert password not in caplog.text
    assert password not in repr(SmtpSender(target))
    assert all(password not in r.reply for r in results)


def test_missing_login_defers_every_mail_after_the_first_refusal(
    auth_server: FaultySmtpServer,
) -> None:
    target = SmtpTarget(host="127.0.0.1", port=auth_server.port)

    results = send(target, [mail(1), mail(2), mail(3)], connections=1)

    assert [(r.status, r.reply) for r in results] == [
        ("deferred", "530 5.7.0 Authentication required")
    ] * 3
    assert [r.attempts for r in results] == [1, 0, 0]  # no MAIL FROM after the first refusal
    assert auth_server.messages == []


def test_5xx_to_mail_from_defers_the_batch_instead_of_failing_mails(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.fail_next(1, 553, "5.7.1 Sender address rejected: not owned by user", stage="mail")

    results = send(target, [mail(n) for n in range(3)], connections=1)

    assert statuses(results) == {"deferred": 3}
    assert all(r.reply.startswith("553 5.7.1 Sender address rejected") for r in results)
    assert server.messages == []


# -- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert file, key file, PEM)."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def server_context(certificate: tuple[Path, Path, bytes]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate[0], certificate[1])
    return context


def trusting(certificate: tuple[Path, Path, bytes]) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=certificate[2].decode("ascii"))


@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtps"])
def test_tls_with_a_trusted_certificate_sends(
    certificate: tuple[Path, Path, bytes], scheme: str
) -> None:
    implicit = scheme == "smtps"
    with FaultySmtpServer(
        tls_context=server_context(certificate), implicit_tls=implicit, auth=("u", "p")
    ) as tls_server:
        url = (
            f"smtps://u:p@127.0.0.1:{tls_server.port}"
            if implicit
            else f"smtp://u:p@127.0.0.1:{tls_server.port}?starttls=true"
        )

        results = send(parse_smtp_url(url), [mail(1), mail(2)], tls_context=trusting(certificate))

        assert statuses(results) == {"sent": 2}
        assert len(tls_server.messages) == 2


def test_untrusted_certificate_defers_every_mail_without_retrying(
    certificate: tuple[Path, Path, bytes],
) -> None:
    with FaultySmtpServer(tls_context=server_context(certificate)) as tls_server:
        target = parse_smtp_url(f"smtp://127.0.0.1:{tls_server.port}?starttls=true")

        results = send(target, [mail(1), mail(2), mail(3)], connections=1)

        assert statuses(results) == {"deferred": 3}
        assert all(r.reply.startswith("TLS failed") for r in results)
        assert tls_server.sessions == 1
        assert tls_server.messages == []


# -- callbacks -----------------------------------------------------------------------------------


def test_before_send_runs_once_before_transmission_and_on_result_after(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    server.fail_next(1, 451, stage="data")
    events: list[tuple[str, str, int]] = []

    async def before_send(outgoing: OutgoingMail) -> None:
        events.append(("before", outgoing.key, len(server.messages)))

    async def on_result(result: SendResult) -> None:
        events.append((result.status, result.key, len(server.messages)))

    async def run() -> list[SendResult]:
        async with SmtpSender(target, connections=1, **FAST) as sender:
            return await sender.send_many(
                [mail(1), mail(2)], before_send=before_send, on_result=on_result
            )

    asyncio.run(run())

    assert events == [
        ("before", "302-0000001", 0),
        ("before", "302-0000002", 0),
        ("sent", "302-0000002", 1),
        ("sent", "302-0000001", 2),
    ]


def test_the_next_mail_is_handed_over_only_once_the_previous_outcome_is_recorded(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    recorded: list[tuple[str, int]] = []

    async def on_result(result: SendResult) -> None:
        await asyncio.sleep(0.05)  # a slow ledger commit
        recorded.append((result.key, len(server.messages)))

    async def run() -> list[SendResult]:
        async with SmtpSender(target, connections=1, **FAST) as sender:
            return await sender.send_many([mail(n) for n in range(4)], on_result=on_result)

    asyncio.run(run())

    # when a mail's outcome was recorded, the server held that mail and none after it
    assert recorded == [(mail(n).key, n + 1) for n in range(4)]


def test_a_failing_on_result_stops_the_batch_before_the_next_mail_is_handed_over(
    server: FaultySmtpServer, target: SmtpTarget
) -> None:
    async def on_result(result: SendResult) -> None:
        raise RuntimeError("ledger unavailable")

    async def run() -> list[SendResult]:
        async with SmtpSender(target, connections=1, **FAST) as sender:
            return await sender.send_many([mail(n) for n in range(5)], on_result=on_result)

    with pytest.raises(RuntimeError, match="ledger unavailable"):
        asyncio.run(run())
    assert len(server.messages) == 1


def test_a_failing_callback_stops_the_batch(server: FaultySmtpServer, target: SmtpTarget) -> None:
    async def before_send(outgoing: OutgoingMail) -> None:
        if outgoing.key == "302-0000002":
            raise RuntimeError("ledger unavailable")

    async def run() -> list[SendResult]:
        async with SmtpSender(target, connections=1, **FAST) as sender:
            return await sender.send_many([mail(n) for n in range(5)], before_send=before_send)

    with pytest.raises(RuntimeError, match="ledger unavailable"):
        asyncio.run(run())
    assert len(server.messages) == 2


# -- the capture server (demo) -------------------------------------------------------------------


def test_capture_server_writes_one_eml_per_mail_named_by_message_id(tmp_path: Path) -> None:
    mails = [mail(n) for n in range(3)]
    with CaptureServer(tmp_path) as capture:
        results = send(SmtpTarget(host="127.0.0.1", port=capture.port), mails)

    assert statuses(results) == {"sent": 3}
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 3
    assert sorted(path.read_bytes() for path in files) == sorted(m.data for m in mails)
    first = next(path for path in files if path.read_bytes() == mails[0].data)
    assert first.name.endswith(f"-{mails[0].message_id.strip('<>')}.eml")
    assert first.name.split("-", 1)[0].isdigit()


def test_capture_server_continues_numbering_in_a_used_directory(tmp_path: Path) -> None:
    (tmp_path / "000007-old@shop.de.eml").write_bytes(b"Subject: old\r\n\r\n")
    with CaptureServer(tmp_path) as capture:
        send(SmtpTarget(host="127.0.0.1", port=capture.port), [mail(1)])

    assert sorted(path.name.split("-", 1)[0] for path in tmp_path.glob("*.eml")) == [
        "000007",
        "000008",
    ]
