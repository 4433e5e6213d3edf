"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, parsed.

::

    async with FakeSmtpServer() as smtp:
        channel = EmailChannel(host=smtp.host, port=smtp.port, from_address="care@clinic.example",
                               clock=clock)
        await channel.send(outgoing)
        [message] = await smtp.wait_for(1)
        assert message["Subject"] == "..."

The server runs in aiosmtpd's own thread; :meth:`FakeSmtpServer.wait_for` is woken by each
arriving message, so tests never sleep. :meth:`FakeSmtpServer.refuse` answers RCPT for an address
with a permanent refusal (550 5.1.1 by default), :meth:`FakeSmtpServer.defer` with a temporary
one, :meth:`FakeSmtpServer.reject_next_data` answers the next DATA with a reply of your choice;
``credentials`` makes the server require AUTH.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

REFUSED = "550 5.1.1 Recipient address rejected: User unknown in virtual mailbox table"
DEFERRED = "450 4.2.1 Mailbox temporarily unavailable, try again later"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes


class _LoopbackSMTP(SMTP):
    """aiosmtpd's server, allowing AUTH without TLS: it only ever listens on loopback here.

    (Passing ``auth_require_tls=False`` does the same but warns on every connection.)
    """

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._auth_require_tls = False


class _Controller(Controller):
    """aiosmtpd's threaded controller, listening on a free port (``port=0``) it then reports."""

    def factory(self) -> SMTP:
        return _LoopbackSMTP(self.handler, **self.SMTP_kwargs)

    def _create_server(self) -> Any:
        async def bind() -> asyncio.AbstractServer:
            server = await self.loop.create_server(
                self._factory_invoker,
                host=self.hostname,
                port=self.port,
                ssl=self.ssl_context,
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return bind()


class FakeSmtpServer:
    def __init__(self, *, credentials: tuple[str, str] | None = None) -> None:
        self.host = "127.0.0.1"
        self.credentials = credentials
        self.received: list[Received] = []
        self.refused: dict[str, str] = {}
        self.deferred: dict[str, str] = {}
        self._data_replies: list[str] = []
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        kwargs: dict[str, Any] = {}
        if credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self._controller = _Controller(_Handler(self), hostname=self.host, port=0, **kwargs)

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [item.message for item in self.received]

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._controller._thread is not None

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        """Stop listening (connections are then refused); stopping twice is harmless."""
        if self.running:
            self._controller.stop()

    async def __aenter__(self) -> FakeSmtpServer:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------------ behaviour

    def refuse(self, address: str, reply: str = REFUSED) -> None:
        """Answer RCPT TO ``address`` with ``reply`` (a permanent refusal unless told otherwise)."""
        self.refused[address.lower()] = reply

    def defer(self, address: str, reply: str = DEFERRED) -> None:
        """Answer RCPT TO ``address`` with a temporary failure."""
        self.deferred[address.lower()] = reply

    def reject_next_data(self, reply: str) -> None:
        """Answer the next DATA with ``reply`` (say ``"451 4.3.0 Try again"``) instead of 250."""
        self._data_replies.append(reply)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """The received messages, once there are at least ``count`` of them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = asyncio.Event()
            with self._lock:
                if len(self.received) >= count:
                    return [item.message for item in self.received]
                self._waiters.append((loop, event))
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                subjects = [m["Subject"] for m in self.messages]
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {count} message(s); received {subjects}"
                ) from None
            finally:
                with self._lock:
                    if (loop, event) in self._waiters:
                        self._waiters.remove((loop, event))

    # ------------------------------------------------------------------ called from the server thread

    def _arrived(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)
            waiters = list(self._waiters)
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def _next_data_reply(self) -> str | None:
        with self._lock:
            return self._data_replies.pop(0) if self._data_replies else None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.credentials is not None:
            login, password = self.credentials
            if (auth_data.login, auth_data.password) == (login.encode(), password.encode()):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class _Handler:
    def __init__(self, server: FakeSmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        key = address.lower()
        if key in self.server.refused:
            return self.server.refused[key]
        if key in self.server.deferred:
            return self.server.deferred[key]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.server._next_data_reply()
        if reply is not None:
            return reply
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        # Parsed as a mail client shows it: with the wire's CRLF line endings turned into LF.
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.server._arrived(Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), message, raw))
        return "250 2.0.0 OK: queued"
