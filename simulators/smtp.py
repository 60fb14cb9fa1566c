"""Local SMTP servers (aiosmtpd) for the demo, the tests and fault-injection runs.

* `CaptureServer` accepts everything and writes each message to `<n>-<message-id>.eml`: the
  demo's "local SMTP capture", which an operator opens with any mail program.
* `FaultySmtpServer` keeps messages in memory and misbehaves on request, the way real relays do:
  permanent 550 for chosen recipients, 451/421 for the next N messages or at random (seeded),
  a connection dropped at MAIL FROM or after the body arrived (before the reply), slow replies,
  a 421 greeting, and AUTH with one user/password (allowed over plain connections here).

Both run their own event loop in a daemon thread, so a caller's loop (pytest, the demo, a
benchmark) talks to them over real loopback TCP exactly as to a remote relay. `port=0` picks a
free port; read it from `.port` after `start()`.
"""

from __future__ import annotations

import asyncio
import random
import re
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, cast

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Stage = Literal["connect", "mail", "rcpt", "data"]

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*<?([^>\r\n]*)>?", re.IGNORECASE | re.MULTILINE)
_UNSAFE = re.compile(rb"[^A-Za-z0-9._@+-]+")
_NUMBERED = re.compile(r"^(\d+)-")
_GREETING_NAME = "localhost"


class _ThreadedServer:
    """An asyncio server for one protocol factory, in its own thread and loop."""

    def __init__(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None):
        self.host = host
        self._requested_port = port
        self._ssl = ssl_context
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._protocols: set[asyncio.BaseProtocol] = set()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server is not started")
        return self._port

    def _protocol(self, loop: asyncio.AbstractEventLoop) -> asyncio.BaseProtocol:
        raise NotImplementedError

    def _track(self, loop: asyncio.AbstractEventLoop) -> asyncio.BaseProtocol:
        protocol = self._protocol(loop)
        self._protocols.add(protocol)
        return protocol

    def start(self) -> Self:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                server = loop.run_until_complete(
                    loop.create_server(
                        lambda: self._track(loop),
                        self.host,
                        self._requested_port,
                        ssl=self._ssl,
                    )
                )
            except BaseException as error:  # reported to start()'s caller
                failure.append(error)
                ready.set()
                loop.close()
                return
            self._server = server
            self._port = int(server.sockets[0].getsockname()[1])
            ready.set()
            loop.run_forever()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, daemon=True, name=f"smtp:{self.host}")
        self._thread.start()
        if not ready.wait(10) or failure:
            self._thread = None
            raise RuntimeError(f"SMTP simulator did not start on {self.host}") from (
                failure[0] if failure else None
            )
        return self

    def stop(self) -> None:
        loop, thread, server = self._loop, self._thread, self._server
        if loop is None or thread is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            for protocol in list(self._protocols):
                transport = getattr(protocol, "transport", None)
                if transport is not None:
                    transport.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = self._loop = self._server = None
        self._protocols.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _file_stem(data: bytes) -> str:
    head = data.split(b"\r\n\r\n", 1)[0]
    found = _MESSAGE_ID.search(head)
    if not found or not found.group(1).strip():
        return "no-message-id"
    return _UNSAFE.sub(b"_", found.group(1).strip()).decode("ascii")[:120]


class CaptureServer(_ThreadedServer):
    """Accepts every message and stores it as `<n>-<message-id>.eml` in `directory`.

    Numbering continues after the highest number already in the directory, so repeated demo
    runs never overwrite earlier captures."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.directory = Path(directory)
        self.received = 0
        self._number = 0

    def start(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        numbers = (_NUMBERED.match(path.name) for path in self.directory.glob("*.eml"))
        self._number = max((int(match.group(1)) for match in numbers if match), default=0)
        return super().start()

    def _protocol(self, loop: asyncio.AbstractEventLoop) -> asyncio.BaseProtocol:
        return SMTP(self, hostname=_GREETING_NAME, ident="liefern capture", loop=loop)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        self._number += 1
        path = self.directory / f"{self._number:06d}-{_file_stem(data)}.eml"
        path.write_bytes(data)
        self.received += 1
        return f"250 2.0.0 Ok: stored as {path.name}"


@dataclass
class _Fault:
    stage: Stage
    action: Literal["reply", "drop", "delay"]
    remaining: int | None  # None: unlimited, decided by `chance`
    code: int = 451
    text: str = ""
    seconds: float = 0.0
    chance: random.Random | None = None
    probability: float = 1.0

    def fires(self) -> bool:
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            return True
        assert self.chance is not None
        return self.chance.random() < self.probability


_DEFAULT_TEXT = {
    421: "4.3.2 Service shutting down, closing connection",
    450: "4.2.1 Mailbox busy, try again later",
    451: "4.3.0 Local error in processing, try again later",
    452: "4.3.1 Insufficient system storage",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message too big",
    554: "5.7.1 Message rejected",
}


class _Greeting(asyncio.Protocol):
    """A connection refused at the greeting: say `reply` (if any) and hang up."""

    def __init__(self, reply: str | None) -> None:
        self.reply = reply
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self.reply is not None:
            cast(asyncio.WriteTransport, transport).write(self.reply.encode("ascii") + b"\r\n")
        transport.close()


class FaultySmtpServer(_ThreadedServer):
    """An in-memory SMTP server that fails on request (see the module docstring).

    `.messages` holds (envelope sender, recipients, message bytes) of every message it took,
    including those it then "lost" by dropping the connection before the reply; `.sessions`
    counts accepted TCP connections. Faults are consumed in the order they were added."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        auth: tuple[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        super().__init__(host, port, ssl_context=tls_context if implicit_tls else None)
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.sessions = 0
        self._auth = (auth[0].encode(), auth[1].encode()) if auth else None
        self._starttls = None if implicit_tls else tls_context
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._rejected: dict[str, str] = {}

    # -- configuration (thread-safe, any time) -------------------------------------------------

    def reject_recipient(
        self, address: str, code: int = 550, text: str = _DEFAULT_TEXT[550]
    ) -> None:
        """Answer RCPT TO for `address` with a permanent error, every time."""
        with self._lock:
            self._rejected[address.lower()] = f"{code} {text}"

    def fail_next(
        self, count: int, code: int = 451, text: str | None = None, *, stage: Stage = "data"
    ) -> None:
        """Reply `code` to the next `count` commands at `stage` (421 also hangs up)."""
        self._add(_Fault(stage, "reply", count, code, text or _DEFAULT_TEXT.get(code, "")))

    def fail_randomly(
        self,
        probability: float,
        code: int = 451,
        text: str | None = None,
        *,
        stage: Stage = "data",
        seed: int = 0,
    ) -> None:
        """Reply `code` at `stage` with `probability`, reproducibly for a given `seed`."""
        self._add(
            _Fault(
                stage,
                "reply",
                None,
                code,
                text or _DEFAULT_TEXT.get(code, ""),
                chance=random.Random(seed),
                probability=probability,
            )
        )

    def drop_next(self, count: int = 1, *, stage: Stage = "data") -> None:
        """Close the connection without a reply at `stage`; at "data" the message is kept."""
        self._add(_Fault(stage, "drop", count))

    def delay_next(self, count: int, seconds: float, *, stage: Stage = "mail") -> None:
        """Wait `seconds` before answering the next `count` commands at `stage`."""
        if stage == "connect":
            raise ValueError("delays apply to mail, rcpt or data")
        self._add(_Fault(stage, "delay", count, seconds=seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._rejected.clear()

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _fault(self, stage: Stage) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.stage == stage and fault.fires():
                    return fault
        return None

    # -- the server side -----------------------------------------------------------------------

    def _protocol(self, loop: asyncio.AbstractEventLoop) -> asyncio.BaseProtocol:
        self.sessions += 1
        fault = self._fault("connect")
        if fault is not None:
            return _Greeting(f"{fault.code} {fault.text}" if fault.action == "reply" else None)
        return SMTP(
            self,
            hostname=_GREETING_NAME,
            ident="liefern faulty",
            loop=loop,
            tls_context=self._starttls,
            authenticator=self._authenticate if self._auth else None,
            auth_require_tls=False,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == self._auth
        return AuthResult(success=ok, handled=False)

    async def _misbehave(self, server: SMTP, fault: _Fault | None) -> str | None:
        """Apply a fault: a reply to send instead of the normal one, or None to go on."""
        if fault is None:
            return None
        if fault.action == "delay":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.action == "reply" and fault.code != 421:
            return f"{fault.code} {fault.text}"
        if fault.action == "reply":
            await server.push(f"{fault.code} {fault.text}")
        assert server.transport is not None
        server.transport.close()
        await asyncio.get_running_loop().create_future()  # cancelled when the connection goes
        return None  # pragma: no cover

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self._auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        reply = await self._misbehave(server, self._fault("mail"))
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self._lock:
            rejected = self._rejected.get(address.lower())
        if rejected is not None:
            return rejected
        reply = await self._misbehave(server, self._fault("rcpt"))
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self._fault("data")
        record = (envelope.mail_from or "", list(envelope.rcpt_tos), envelope.original_content)
        if fault is not None and fault.action == "drop":
            self._keep(record)  # the server took it, then died before it could say so
            return await self._misbehave(server, fault) or ""
        reply = await self._misbehave(server, fault)
        if reply is not None:
            return reply
        number = self._keep(record)
        return f"250 2.0.0 OK: queued as {number}"

    def _keep(self, record: tuple[str, list[str], bytes | None]) -> int:
        sender, recipients, data = record
        with self._lock:
            self.messages.append((sender, recipients, data or b""))
            return len(self.messages)
