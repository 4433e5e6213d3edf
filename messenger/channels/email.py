"""The e-mail channel: one SMTP submission per message, through ``aiosmtplib``.

Each message has a plain-text body, an HTML alternative when the template has one, the one-click
unsubscribe headers of RFC 2369 / RFC 8058 when an unsubscribe URL is known, and any attachments
(calendar invitations are attached as ``text/calendar`` with their iTIP method).

SMTP answers become outcomes: a recipient the server refuses permanently because the mailbox or
domain does not exist (5.1.x, 5.2.1, or a bare 550/551/553) is ``Failed(unreachable=True)``;
anything temporary (4xx, a refused or dropped connection, a timeout) is ``RetryLater``; other
refusals are ``Failed``. Reasons carry SMTP codes, never addresses.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from email.errors import MessageError
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import EmailPolicy, Policy
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid, parseaddr
from typing import cast

import aiosmtplib
from pydantic import SecretStr

from messenger.channels.base import Failed, Outgoing, RetryLater, SendOutcome, Sent
from messenger.channels.failures import FailureCode, Params
from messenger.clock import Clock
from messenger.content import Capabilities, Flavour
from messenger.domain.enums import ChannelName

__all__ = ["EmailChannel"]

_MAX_HEADER_LINE = 998  # RFC 5322's hard limit on a line
_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_ENHANCED_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
# 5.1.x about the recipient (bad mailbox, bad domain, bad syntax, moved, null MX) and 5.2.1
# (mailbox disabled): the address itself is dead. 5.1.7/5.1.8 are about the sender.
_DEAD_ADDRESS_DETAILS = {("1", "1"), ("1", "2"), ("1", "3"), ("1", "6"), ("1", "10"), ("2", "1")}
_DEAD_ADDRESS_CODES = {550, 551, 553}


class _VerbatimHeader(UnstructuredHeader):
    """A header written on one line as given, when it is ASCII and fits the line limit.

    The standard policy folds a long header with no spaces (a long unsubscribe URL) by turning
    it into RFC 2047 encoded words, which mail clients do not decode inside ``<URL>``.
    """

    def fold(self, *, policy: Policy) -> str:
        # The registry mixes this class with BaseHeader when it makes a header: name and the
        # standard folding come from there.
        header = cast(BaseHeader, self)
        value = str(self)
        line = f"{header.name}: {value}"
        if value.isascii() and len(line) <= _MAX_HEADER_LINE and "\n" not in value and "\r" not in value:
            return line + policy.linesep
        return BaseHeader.fold(header, policy=policy)


def _message_policy() -> EmailPolicy[EmailMessage]:
    registry = HeaderRegistry()
    verbatim = cast(type[BaseHeader], _VerbatimHeader)
    registry.map_to_type("list-unsubscribe", verbatim)
    registry.map_to_type("list-unsubscribe-post", verbatim)
    return default_policy.clone(header_factory=registry)


_POLICY = _message_policy()


class EmailChannel:
    name = ChannelName.EMAIL
    # An inbox list and a lock-screen notification show the subject: it must stay discreet.
    capabilities = Capabilities(
        body=Flavour.EMAIL_TEXT,
        max_length=100_000,
        subject=Flavour.EMAIL_SUBJECT,
        html=Flavour.EMAIL_HTML,
        discreet=True,
    )

    def __init__(
        self,
        *,
        host: str,
        port: int,
        from_address: str,
        clock: Clock,
        username: str | None = None,
        password: str | SecretStr | None = None,
        use_tls: bool = False,
        start_tls: bool | None = None,
        unsubscribe_url: Callable[[Outgoing], str | None] | None = None,
        timeout: float = 30,
    ) -> None:
        sender = parseaddr(from_address)[1]
        if "@" not in sender:
            raise ValueError(f"not an e-mail address: {from_address!r}")
        self.host = host
        self.port = port
        self.from_address = from_address
        self.username = username or None
        self._password = password if isinstance(password, SecretStr) or password is None else SecretStr(password)
        self.use_tls = use_tls
        self.start_tls = start_tls
        self.unsubscribe_url = unsubscribe_url
        self.timeout = timeout
        self.clock = clock
        self._domain = sender.rpartition("@")[2] or "localhost"

    def build_message(self, outgoing: Outgoing) -> EmailMessage:
        """The message :meth:`send` submits for ``outgoing``.

        Raises ``ValueError`` for a missing subject or an address that is not one.
        """
        content = outgoing.content
        subject = " ".join((content.subject or "").split())
        if not subject:
            raise ValueError("no subject")
        try:
            recipient = Address(display_name=" ".join(outgoing.recipient.split()), addr_spec=outgoing.address.strip())
        except (ValueError, IndexError, MessageError) as exc:
            raise _InvalidAddress("invalid e-mail address") from exc

        message = EmailMessage(policy=_POLICY)
        message["Subject"] = subject
        message["From"] = self.from_address
        message["To"] = recipient
        message["Date"] = format_datetime(self.clock.now())
        message["Message-ID"] = make_msgid(domain=self._domain)
        url = self.unsubscribe_url(outgoing) if self.unsubscribe_url else None
        if url:
            if any(ch in url for ch in "<>\r\n \t"):
                raise ValueError("the unsubscribe URL must not contain spaces or angle brackets")
            message["List-Unsubscribe"] = f"<{url}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(content.body)
        if content.html:
            message.add_alternative(content.html, subtype="html")
        for filename, data, mime_type in outgoing.attachments:
            maintype, _, subtype = mime_type.partition("/")
            if not maintype or not subtype:
                maintype, subtype = "application", "octet-stream"
            params: dict[str, str] = {}
            if (maintype, subtype) == ("text", "calendar"):
                params = {"method": _calendar_method(data), "charset": "utf-8"}
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename, params=params)
        return message

    async def send(self, outgoing: Outgoing) -> SendOutcome:
        try:
            message = self.build_message(outgoing)
        except _InvalidAddress as exc:
            return Failed(FailureCode.SMTP_INVALID_ADDRESS, unreachable=True, detail=str(exc))
        except ValueError as exc:
            return Failed(FailureCode.SMTP_INVALID_MESSAGE, detail=str(exc))
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self._password.get_secret_value() if self._password else None,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPException as exc:
            return _smtp_outcome(exc)
        except ssl.SSLCertVerificationError:
            return Failed(FailureCode.SMTP_TLS)
        except (OSError, TimeoutError) as exc:
            return RetryLater(FailureCode.SMTP_UNAVAILABLE, params=(("error", type(exc).__name__),))
        return Sent(str(message["Message-ID"]))

    async def aclose(self) -> None:
        """Nothing to close: each message uses its own SMTP connection."""


class _InvalidAddress(ValueError):
    pass


def _calendar_method(data: bytes) -> str:
    match = re.search(rb"^METHOD:([A-Za-z-]+)\s*$", data, re.MULTILINE)
    return match.group(1).decode("ascii").upper() if match else "REQUEST"


def _smtp_outcome(exc: aiosmtplib.SMTPException) -> SendOutcome:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refusals = exc.recipients
        if any(400 <= refusal.code < 500 for refusal in refusals) or not refusals:
            code = refusals[0].code if refusals else "?"
            return RetryLater(FailureCode.SMTP_DEFERRED, params=(("code", str(code)),))
        return _recipient_refused(refusals[0].code, refusals[0].message)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        if 400 <= exc.code < 500:
            return RetryLater(FailureCode.SMTP_DEFERRED, params=(("code", str(exc.code)),))
        return _recipient_refused(exc.code, exc.message)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Failed(FailureCode.SMTP_AUTH, (("code", str(exc.code)),))
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        if 400 <= exc.code < 500:
            return RetryLater(FailureCode.SMTP_DEFERRED, params=_smtp_params(exc.code, exc.message))
        return Failed(FailureCode.SMTP_SENDER_REFUSED, _smtp_params(exc.code, exc.message))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if exc.code < 500:
            return RetryLater(FailureCode.SMTP_DEFERRED, params=_smtp_params(exc.code, exc.message))
        return Failed(FailureCode.SMTP_REFUSED, _smtp_params(exc.code, exc.message), detail=_redact(exc.message)[:300])
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected):
        return RetryLater(FailureCode.SMTP_UNAVAILABLE, params=(("error", type(exc).__name__),))
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return Failed(FailureCode.SMTP_NOT_SUPPORTED, detail=_redact(exc.message)[:300])
    return Failed(FailureCode.SMTP_ERROR, detail=_redact(str(exc))[:300])


def _recipient_refused(code: int, message: str) -> Failed:
    enhanced = _ENHANCED_STATUS.match(message or "")
    if enhanced:
        dead = enhanced.group(1) == "5" and (enhanced.group(2), enhanced.group(3)) in _DEAD_ADDRESS_DETAILS
    else:
        dead = code in _DEAD_ADDRESS_CODES
    return Failed(FailureCode.SMTP_REJECTED, _smtp_params(code, message), unreachable=dead)


def _smtp_params(code: int, message: str) -> Params:
    """The reply code, and the enhanced status code (RFC 3463) where the server gave one."""
    enhanced = _ENHANCED_STATUS.match(message or "")
    status = (("status", f"{enhanced.group(1)}.{enhanced.group(2)}.{enhanced.group(3)}"),) if enhanced else ()
    return (("code", str(code)), *status)


def _redact(text: str) -> str:
    return _ADDRESS.sub("<address>", " ".join((text or "").split()))
