"""Send prebuilt shipping mails in bulk over a small pool of reused SMTP connections.

One `SmtpSender.send_many` call feeds an asyncio queue; N workers each hold one connection
(aiosmtplib) and take message after message from it, so connection setup (TCP, STARTTLS, AUTH)
is paid once per worker, not once per mail.

Outcome of each mail (`SendResult.status`), per attempt. Only a refusal of this mail itself is
final; anything the operator or time can fix (the relay, the password, the sender address, a
busy server) ends "deferred", and the caller keeps the mail for a later run:

    250 after DATA ........................ sent
    5xx to RCPT or DATA ................... failed at once with the server's reply (this
                                            recipient or this message is refused for good);
                                            the connection is RSET and the batch goes on
    address aiosmtplib cannot send ........ failed at once ("not sendable: ...")
    5xx to MAIL FROM, 530/535 anywhere .... deferred, with every other open mail of the batch:
                                            the sender or the login is refused, not the mail
    4xx reply ............................. RSET, retry later (421: reconnect first)
    connection lost / timeout before DATA . reconnect, retry later
    connection lost / timeout once the
      DATA command was sent ............... reconnect, retry later, but the server may already
                                            have taken the message: see "unknown" below
    retries used up (max_attempts) ........ deferred with the last reply ("unknown" after a
                                            lost answer to DATA)

Retries within the call wait `backoff * 2**(attempt-1)` seconds (with jitter, capped at
`max_backoff`) without holding a connection: other mails keep flowing meanwhile.

The "unknown" rule: when the connection drops (or the reply times out) after the message body was
handed over, we cannot tell whether the server queued it. We send it again, with the same bytes
and therefore the same Message-ID, so mailbox providers that deduplicate by Message-ID show it once
and a buyer who gets both sees the same mail twice, not two different ones. If a later attempt
gets 250, the mail is "sent" (the reply notes the lost answer). If no later attempt succeeds
(retries used up, or a definite refusal), the mail is "unknown" with the last reply: the lost
attempt may have been delivered, so the caller must not resend it blindly. A mail whose attempts
all failed before DATA is "deferred", never "unknown".

Mails with several recipients: when the server refuses some recipients for good but accepts
others, the mail is sent to those it accepted and the result is "sent", its reply naming the
refused ones; resending would duplicate it for the others.

Connection trouble (refused, timeout, 4xx greeting) is not charged to a mail: a worker that
cannot connect puts its mail back, backs off and tries again; after `max_attempts` failed connects
in a row it stops, and when the last worker stops, every mail still open is deferred with the
connect error. A refused login (535, any 5xx to AUTH), a 5xx greeting, a missing STARTTLS/AUTH
extension or a TLS certificate error defers every open mail at once with that reply: no retry
within this call can fix credentials or certificates, but the operator can, and then the
deferred mails go out with a later call.

`before_send` is awaited once per mail before its first DATA (the caller commits its ledger row
there); `on_result` right after the final outcome. A worker sends its next mail's DATA (the
moment the server may take it) only when both have returned, so a caller that commits in them
has at most one mail per connection the server may hold without a committed outcome. When a
worker's next mail is already waiting, that mail's MAIL FROM and RCPT go out while the previous
mail's `on_result` and its own `before_send` run side by side, so a caller can commit both in
one transaction without the connection standing still meanwhile. An exception raised by either
stops the whole batch and propagates. The password lives only in the `SmtpTarget` (a SecretStr)
and the aiosmtplib client; it is never logged or put into replies or reprs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from aiosmtplib import (
    SMTP,
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
)

from core.settings import SmtpTarget

log = logging.getLogger(__name__)

Status = Literal["sent", "failed", "unknown", "deferred"]

# refusals that concern the login, not the mail, whatever command they answer
_LOGIN_REFUSALS = frozenset({530, 535})


@dataclass(frozen=True)
class OutgoingMail:
    """One prebuilt mail: `key` is the caller's ledger key (e.g. the order id)."""

    key: str
    sender: str  # envelope address (MAIL FROM), no display name
    recipients: tuple[str, ...]
    data: bytes  # the complete message, CRLF line endings (see connectors.smtp.message)
    message_id: str


@dataclass(frozen=True)
class SendResult:
    key: str
    status: Status
    reply: str  # the server's code and text, or what went wrong on the wire
    attempts: int  # transactions started for this mail (0: never tried)


@dataclass
class _Job:
    index: int
    mail: OutgoingMail
    attempts: int = 0
    announced: bool = False
    lost_after_data: bool = False


@dataclass(frozen=True)
class _Attempt:
    kind: Literal["sent", "failed", "retry", "defer"]  # defer: the whole batch, at once
    reply: str
    drop: bool = False  # the connection is unusable afterwards


class _CallbackFailed(Exception):
    """`before_send` or `on_result` raised: carried past the SMTP error handling."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


_Ready = asyncio.Task[BaseException | None]


class _ConnectFailed(Exception):
    def __init__(self, reply: str, *, final: bool) -> None:
        super().__init__(reply)
        self.reply = reply
        self.final = final


def _reply(code: int, text: str) -> str:
    return f"{code} {' '.join(text.split())}".strip()


def _has_tls_error(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _connect_failure(error: Exception) -> _ConnectFailed:
    """Sort a failed connect into "try again later" and "no retry can help"."""
    if isinstance(error, SMTPResponseException):
        return _ConnectFailed(_reply(error.code, error.message), final=error.code >= 500)
    if _has_tls_error(error):
        return _ConnectFailed(f"TLS failed: {error}", final=True)
    if isinstance(error, OSError | TimeoutError):  # SMTPConnectError, disconnects, timeouts
        return _ConnectFailed(f"connect failed: {error}", final=False)
    # SMTPException without a code: STARTTLS/AUTH not offered, no usable auth method
    return _ConnectFailed(f"connect failed: {error}", final=True)


class _Run:
    """The state of one send_many call, shared by its workers."""

    def __init__(
        self,
        mails: Sequence[OutgoingMail],
        workers: int,
        before_send: Callable[[OutgoingMail], Awaitable[None]] | None,
        on_result: Callable[[SendResult], Awaitable[None]] | None,
    ) -> None:
        self.queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        for index, mail in enumerate(mails):
            self.queue.put_nowait(_Job(index, mail))
        self.results: list[SendResult | None] = [None] * len(mails)
        self.pending = len(mails)
        self.done = asyncio.Event()
        self.active_workers = workers
        self.fatal: str | None = None
        self.error: BaseException | None = None
        self.before_send = before_send
        self.on_result = on_result
        self._waiting: dict[int, tuple[asyncio.TimerHandle, _Job]] = {}
        if not mails:
            self.done.set()

    def retry_later(self, job: _Job, delay: float) -> None:
        handle = asyncio.get_running_loop().call_later(delay, self._wake, job)
        self._waiting[id(job)] = (handle, job)

    def _wake(self, job: _Job) -> None:
        self._waiting.pop(id(job), None)
        self.queue.put_nowait(job)

    def give_up(self, reply: str) -> None:
        """No mail can go out any more: everything open fails with `reply`."""
        if self.fatal is None:
            log.error("smtp: giving up on the batch: %s", reply)
            self.fatal = reply
        for handle, job in list(self._waiting.values()):
            handle.cancel()
            self.queue.put_nowait(job)
        self._waiting.clear()

    async def defer(self, job: _Job, reply: str) -> None:
        """The mail stays for a later call; after a lost answer to DATA it is "unknown"."""
        await self.finish(job, "unknown" if job.lost_after_data else "deferred", reply)

    def stop_timers(self) -> None:
        for handle, _job in self._waiting.values():
            handle.cancel()
        self._waiting.clear()

    async def finish(self, job: _Job, status: Status, reply: str) -> None:
        result = SendResult(job.mail.key, status, reply, job.attempts)
        self.results[job.index] = result
        if status == "deferred":  # give_up or the retry log said why, once
            log.debug("smtp: mail %s deferred: %s", job.mail.key, reply)
        elif status != "sent":
            log.warning(
                "smtp: mail %s %s after %d attempt(s): %s",
                job.mail.key,
                status,
                job.attempts,
                reply,
            )
        if self.on_result is not None:
            await self.on_result(result)
        self.pending -= 1
        if self.pending == 0:
            self.done.set()


class SmtpSender:
    """A pool of SMTP connections to one target; use as `async with SmtpSender(...) as s:`.

    Inside the context, connections stay open between `send_many` calls; without it, each call
    closes its connections when done. `tls_context` replaces the default (verifying) TLS context,
    e.g. one that trusts a test certificate; `validate_certs=False` turns verification off."""

    def __init__(
        self,
        target: SmtpTarget,
        *,
        connections: int = 4,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        local_hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        validate_certs: bool = True,
    ) -> None:
        if connections < 1 or max_attempts < 1:
            raise ValueError("connections and max_attempts must be at least 1")
        self._target = target
        self._connections = connections
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._local_hostname = local_hostname
        self._tls_context = tls_context
        self._validate_certs = validate_certs
        self._idle: list[SMTP] = []
        self._entered = False

    def __repr__(self) -> str:
        target = self._target
        user = f"{target.username}@" if target.username else ""
        return f"SmtpSender({user}{target.host}:{target.port}, connections={self._connections})"

    async def __aenter__(self) -> SmtpSender:
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._entered = False
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(client) for client in idle))

    async def send_many(
        self,
        mails: Sequence[OutgoingMail],
        *,
        before_send: Callable[[OutgoingMail], Awaitable[None]] | None = None,
        on_result: Callable[[SendResult], Awaitable[None]] | None = None,
    ) -> list[SendResult]:
        """Send every mail; one result per mail, in the order given (see the module docstring)."""
        workers = min(self._connections, len(mails))
        run = _Run(mails, workers, before_send, on_result)
        tasks = [asyncio.create_task(self._work(run)) for _ in range(workers)]
        try:
            await run.done.wait()
        finally:
            if run.error is None and run.pending == 0:
                for _ in tasks:
                    run.queue.put_nowait(None)
            else:
                for task in tasks:
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            run.stop_timers()
        if run.error is not None:
            raise run.error
        results = [result for result in run.results if result is not None]
        assert len(results) == len(mails)
        return results

    # -- one worker: one connection ------------------------------------------------------------

    async def _work(self, run: _Run) -> None:
        client: SMTP | None = await self._reuse_idle()
        failed_connects = 0
        next_job: _Job | None = None
        ready: _Ready | None = None  # the previous mail's callbacks, while this one's envelope goes
        try:
            while True:
                job, next_job = next_job or await run.queue.get(), None
                if job is None:
                    break
                if ready is not None and (
                    run.fatal is not None or client is None or not client.is_connected
                ):
                    await self._wait(ready)
                    ready = None
                if run.fatal is not None:
                    await run.defer(job, run.fatal)
                    continue
                if client is None or not client.is_connected:
                    client = None
                    try:
                        client = await self._connect()
                    except Exception as error:  # sorted by _connect_failure
                        failed = _connect_failure(error)
                        failed_connects += 1
                        if failed.final or failed_connects >= self._max_attempts:
                            if not failed.final and run.active_workers > 1:
                                log.warning("smtp: a connection gave up: %s", failed.reply)
                                run.active_workers -= 1
                                run.queue.put_nowait(job)
                                return
                            run.give_up(failed.reply)
                            await run.defer(job, failed.reply)
                            continue
                        log.info("smtp: %s; connecting again", failed.reply)
                        run.queue.put_nowait(job)
                        await asyncio.sleep(self._delay(failed_connects))
                        continue
                    failed_connects = 0
                attempt = await self._attempt(client, job, run, ready)
                await self._wait(ready)
                ready = None
                if attempt.drop:
                    client.close()
                    client = None
                next_job = self._take_next(run, attempt)
                if next_job is None:
                    await self._settle(run, job, attempt)
                else:  # settle while the next mail's envelope goes out; its DATA waits for it
                    announce = not next_job.announced
                    next_job.announced = True
                    ready = asyncio.create_task(
                        self._settle_meanwhile(run, job, attempt, next_job if announce else None)
                    )
        except asyncio.CancelledError:
            if client is not None:
                client.close()
            raise
        except _CallbackFailed as failed:  # a callback failed: stop the batch, report it
            if client is not None:
                client.close()
            run.error = failed.error
            run.done.set()
            return
        except Exception as error:  # a callback failed: stop the batch, report it
            if client is not None:
                client.close()
            run.error = error
            run.done.set()
            return
        if client is not None and client.is_connected:
            if self._entered:
                self._idle.append(client)
            else:
                await self._quit(client)

    @staticmethod
    def _take_next(run: _Run, attempt: _Attempt) -> _Job | None:
        """The connection's next mail, if one is waiting and the connection goes on with it."""
        if attempt.drop or attempt.kind == "defer" or run.fatal is not None or run.queue.empty():
            return None
        job = run.queue.get_nowait()
        if job is None:  # the batch is over: leave the stop for the loop
            run.queue.put_nowait(None)
        return job

    async def _settle_meanwhile(
        self, run: _Run, job: _Job, attempt: _Attempt, upcoming: _Job | None
    ) -> BaseException | None:
        """`on_result` of the finished mail and `before_send` of the upcoming one side by side
        (a caller may commit both in one transaction); an error is handed back, not raised."""
        try:
            if upcoming is None or run.before_send is None:
                await self._settle(run, job, attempt)
            else:
                await asyncio.gather(
                    self._settle(run, job, attempt), run.before_send(upcoming.mail)
                )
        except Exception as error:
            return error
        return None

    @staticmethod
    async def _wait(ready: _Ready | None) -> None:
        """Until the previous mail's callbacks are done; their error stops the worker."""
        if ready is not None:
            error = await ready
            if error is not None:
                raise _CallbackFailed(error)

    @staticmethod
    async def _announce(run: _Run, job: _Job) -> None:
        """`before_send`, once per mail, before its first transmission."""
        if not job.announced:
            if run.before_send is not None:
                await run.before_send(job.mail)
            job.announced = True

    async def _settle(self, run: _Run, job: _Job, attempt: _Attempt) -> None:
        if attempt.kind == "sent":
            await run.finish(job, "sent", attempt.reply)
            return
        if attempt.kind == "failed":
            await run.finish(job, "unknown" if job.lost_after_data else "failed", attempt.reply)
            return
        if attempt.kind == "defer":
            run.give_up(attempt.reply)
            await run.defer(job, attempt.reply)
            return
        if job.attempts >= self._max_attempts:
            await run.defer(job, attempt.reply)
            return
        delay = self._delay(job.attempts)
        log.info("smtp: mail %s: %s; retry in %.2fs", job.mail.key, attempt.reply, delay)
        run.retry_later(job, delay)

    async def _attempt(self, client: SMTP, job: _Job, run: _Run, ready: _Ready | None) -> _Attempt:
        """One SMTP transaction (MAIL, RCPT..., DATA) for one mail; DATA (the moment the server
        may take it) only once the previous mail's callbacks (`ready`) are done."""
        mail = job.mail
        await self._announce(run, job)
        job.attempts += 1
        refused: dict[str, SMTPRecipientRefused] = {}
        in_data = False
        in_mail = True
        try:
            options = [f"SIZE={len(mail.data)}"] if client.supports_extension("size") else []
            await client.mail(mail.sender, options=options)
            in_mail = False
            for recipient in mail.recipients:
                try:
                    await client.rcpt(recipient)
                except SMTPRecipientRefused as error:
                    refused[recipient] = error
            if refused:
                temporary = [error for error in refused.values() if error.code < 500]
                if any(error.code in _LOGIN_REFUSALS for error in refused.values()):
                    drop = not await self._reset(client)
                    return _Attempt("defer", self._refusals(mail, refused), drop)
                if temporary or len(refused) == len(mail.recipients):
                    drop = any(e.code == 421 for e in temporary) or not await self._reset(client)
                    kind: Literal["failed", "retry"] = "retry" if temporary else "failed"
                    return _Attempt(kind, self._refusals(mail, refused), drop)
            await self._wait(ready)
            in_data = True
            response = await client.data(mail.data)
        except SMTPResponseException as error:  # a definite answer: MAIL or DATA refused
            reply = _reply(error.code, error.message)
            if error.code == 421:
                return _Attempt("retry", reply, drop=True)
            drop = not await self._reset(client)
            if error.code < 500:
                return _Attempt("retry", reply, drop)
            if in_mail or error.code in _LOGIN_REFUSALS:  # the sender or login, not this mail
                return _Attempt("defer", reply, drop)
            return _Attempt("failed", reply, drop)
        except (SMTPException, OSError, TimeoutError) as error:  # no answer: lost or timed out
            if in_data:
                job.lost_after_data = True
                return _Attempt("retry", f"no answer after DATA: {error}", drop=True)
            return _Attempt("retry", f"no answer: {error}", drop=True)
        except ValueError as error:  # aiosmtplib refuses an address it cannot send
            drop = not await self._reset(client)
            return _Attempt("failed", f"not sendable: {error}", drop)
        reply = _reply(response.code, response.message)
        if refused:
            reply += f"; refused: {self._refusals(mail, refused)}"
        if job.lost_after_data:
            reply += " (an earlier attempt got no answer after DATA; sent again, same Message-ID)"
        return _Attempt("sent", reply)

    @staticmethod
    def _refusals(mail: OutgoingMail, refused: dict[str, SMTPRecipientRefused]) -> str:
        if len(mail.recipients) == 1:
            error = next(iter(refused.values()))
            return _reply(error.code, error.message)
        return "; ".join(
            f"{address}: {_reply(error.code, error.message)}" for address, error in refused.items()
        )

    # -- connections ---------------------------------------------------------------------------

    async def _connect(self) -> SMTP:
        target = self._target
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        client = SMTP(
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password.get_secret_value() if target.password else None,
            local_hostname=self._local_hostname,
            timeout=self._timeout,
            use_tls=target.implicit_tls,
            start_tls=target.starttls and not target.implicit_tls,
            validate_certs=self._validate_certs,
            tls_context=self._tls_context,
        )
        await client.connect()
        return client

    async def _reuse_idle(self) -> SMTP | None:
        """A connection kept from the previous call, if it still answers."""
        while self._idle:
            client = self._idle.pop()
            try:
                await client.noop()
                return client
            except (SMTPException, OSError, TimeoutError):
                client.close()
        return None

    async def _reset(self, client: SMTP) -> bool:
        """RSET after a refused transaction; False when the connection is no longer usable."""
        if not client.is_connected:
            return False
        try:
            await client.rset()
        except (SMTPException, OSError, TimeoutError):
            return False
        return True

    async def _quit(self, client: SMTP) -> None:
        try:
            await client.quit()
        except (SMTPException, OSError, TimeoutError):
            pass
        finally:
            client.close()

    def _delay(self, attempt: int) -> float:
        delay = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto
