"""An in-process stand-in for Twilio's Messages API, and for the webhooks Twilio sends back.

Point a :class:`~messenger.channels.twilio.TwilioChannel` at :attr:`FakeTwilioApi.base_url`,
send, and read what arrived (:attr:`FakeTwilioApi.messages`, :attr:`FakeTwilioApi.requests`)::

    async with FakeTwilioApi() as api:
        channel = TwilioChannel(name=ChannelName.SMS, account_sid=api.account_sid,
                                auth_token=api.auth_token, from_number="+15005550006",
                                base_url=api.base_url, clock=clock)
        outcome = await channel.send(outgoing)
        assert api.messages[0].body == outgoing.content.body

Answers have Twilio's shapes: 201 with a Message resource, errors as
``{"code", "message", "more_info", "status"}`` with the HTTP status Twilio uses, 401 with
``WWW-Authenticate`` for bad credentials. :meth:`FakeTwilioApi.fail_next` and
:meth:`FakeTwilioApi.fail_to` script failures. :meth:`FakeTwilioApi.send_status_callback` and
:meth:`FakeTwilioApi.send_inbound` play Twilio's webhooks, signed with ``X-Twilio-Signature``.

WhatsApp templates go as Twilio's Content API has them on the Messages endpoint: ``ContentSid``
(``HX`` + 32 hex digits) and ``ContentVariables`` (a JSON object of strings) instead of ``Body``.
:meth:`FakeTwilioApi.add_content` registers a template's text (``{{1}}``-style placeholders), which
the fake fills in as the message's body; :meth:`FakeTwilioApi.close_window` makes free text to a
WhatsApp number fail with 63016, as outside the 24-hour window.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web

from messenger.channels.signing import twilio_signature
from messenger.rendering.sms import sms_segments

_log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
MAX_BODY = 1600
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_WHATSAPP = "whatsapp:"
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")

# What Twilio says for the errors tests script (``{to}`` is the recipient, as Twilio echoes it).
ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "The 'To' number {to} is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number for "
    "this destination/account.",
    21609: "Invalid 'StatusCallback'.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number {to} is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21910: "Invalid From and To pair. From and To should be of the same channel.",
    21655: "The ContentSid is Invalid.",
    21656: "The ContentVariables Parameter is invalid.",
    63016: "Failed to send freeform message because you are outside the allowed window. "
    "If you are using WhatsApp, please use a Message Template.",
    63024: "Invalid message recipient",
}


@dataclass
class Request:
    """One request to the fake, whatever its answer."""

    method: str
    path: str
    form: dict[str, str]
    username: str | None
    password: str | None
    status: int | None = None


@dataclass
class Message:
    """A message the fake accepted."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    num_segments: int
    status: str = "queued"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    callbacks: list[dict[str, str]] = field(default_factory=list)
    # A template sent through the Content API: its SID and the variables given.
    content_sid: str | None = None
    content_variables: dict[str, str] = field(default_factory=dict)

    def resource(self) -> dict[str, Any]:
        """The Message resource JSON, as Twilio returns it."""
        stamp = format_datetime(self.created, usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": stamp,
            "date_sent": None,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclass
class WebhookReply:
    """What the application answered to a webhook the fake sent."""

    status: int
    body: str
    content_type: str


@dataclass
class _Failure:
    status: int
    code: int | None
    message: str | None
    retry_after: str | None
    times: int


class TwilioError(Exception):
    def __init__(
        self, status: int, code: int | None, message: str | None = None, *, retry_after: str | None = None, to: str = ""
    ) -> None:
        text = message if message is not None else ERROR_MESSAGES.get(code or 0, "Error")
        super().__init__(text)
        self.status, self.code, self.retry_after = status, code, retry_after
        self.message = text.replace("{to}", to)

    def response(self) -> web.Response:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}" if self.code else None,
            "status": self.status,
        }
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return web.json_response(body, status=self.status, headers=headers)


class FakeTwilioApi:
    def __init__(
        self,
        *,
        account_sid: str = "AC" + "0123456789abcdef" * 2,
        auth_token: str = "test-auth-token-0123456789abcdef",
        from_numbers: Iterable[str] | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        # Senders the account owns; ``None`` accepts any.
        self.from_numbers = set(from_numbers) if from_numbers is not None else None
        self.requests: list[Request] = []
        self.messages: list[Message] = []
        self.internal_errors: list[BaseException] = []
        self._failures: list[_Failure] = []
        self._failing_numbers: dict[str, int] = {}
        # Approved templates by Content SID: their text with {{name}} placeholders.
        self.contents: dict[str, str] = {}
        # WhatsApp numbers whose 24-hour window is closed: free text to them fails with 63016.
        self.closed_windows: set[str] = set()
        self._inbound_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def messages_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)  # 0 the first time: a free port
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening (``start`` again listens on the same port: an outage and recovery)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTwilioApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ failure injection

    def fail_next(
        self,
        status: int,
        code: int | None = None,
        message: str | None = None,
        *,
        retry_after: float | str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` create-message requests with this error instead."""
        if status == 429 and code is None:
            code = 20429
        if status >= 500 and code is None:
            code = 20500
        after = None if retry_after is None else (retry_after if isinstance(retry_after, str) else f"{retry_after:g}")
        self._failures.append(_Failure(status, code, message, after, times))

    def fail_to(self, number: str, code: int) -> None:
        """Refuse every message to ``number`` (with or without ``whatsapp:``) with ``code``."""
        self._failing_numbers[_bare(number)] = code

    def add_content(self, sid: str, text: str) -> None:
        """Register an approved template (``"Hi {{1}}, see you on {{2}}."``) under its Content SID."""
        if not _CONTENT_SID.match(sid):
            raise ValueError(f"{sid!r} is not a Content SID")
        self.contents[sid] = text

    def close_window(self, number: str) -> None:
        """Refuse free text to WhatsApp ``number`` with 63016, as Twilio does outside the 24-hour window."""
        self.closed_windows.add(_bare(number))

    def clear_failures(self) -> None:
        self._failures.clear()
        self._failing_numbers.clear()

    # ------------------------------------------------------------------ webhooks Twilio sends

    async def send_status_callback(self, message_sid: str, status: str, error_code: int | None = None) -> WebhookReply:
        """POST a status callback for ``message_sid`` to its StatusCallback URL, signed."""
        message = self.message(message_sid)
        if not message.status_callback:
            raise LookupError(f"message {message_sid} was sent without a StatusCallback")
        form = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        message.status = status
        message.callbacks.append(form)
        return await self._post_signed(message.status_callback, form)

    async def send_inbound(
        self,
        url: str,
        from_number: str,
        body: str,
        *,
        to: str | None = None,
        bad_signature: bool = False,
        extra: Mapping[str, str] | None = None,
    ) -> WebhookReply:
        """POST an incoming-message webhook to ``url``, as Twilio does when a patient replies.

        ``to`` defaults to the sender of the last message the fake accepted. With
        ``bad_signature`` the request is signed with another token.
        """
        if to is None:
            if not self.messages:
                raise ValueError("give `to`: no message has been sent yet")
            to = self.messages[-1].from_
        sid = f"SM{uuid.uuid4().hex}"
        form = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_number,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": str(max(sms_segments(body).segments, 1)),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
            **(extra or {}),
        }
        return await self._post_signed(url, form, token=("wrong-" + self.auth_token) if bad_signature else None)

    def message(self, sid: str) -> Message:
        for message in self.messages:
            if message.sid == sid:
                return message
        raise LookupError(f"no message {sid}; sent: {[m.sid for m in self.messages]}")

    async def _post_signed(self, url: str, form: dict[str, str], *, token: str | None = None) -> WebhookReply:
        signature = twilio_signature(token or self.auth_token, url, form)
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
        async with aiohttp.ClientSession() as session, session.post(url, data=form, headers=headers) as response:
            return WebhookReply(response.status, await response.text(), response.content_type)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        username, password = _basic_auth(request.headers.get("Authorization", ""))
        record = Request(request.method, request.path, form, username, password)
        self.requests.append(record)
        try:
            response = self._route(request, record)
        except TwilioError as error:
            response = error.response()
        except Exception as exc:  # a bug here must not look like a Twilio answer
            _log.exception("FakeTwilioApi failed handling %s %s", request.method, request.path)
            self.internal_errors.append(exc)
            response = web.json_response({"code": None, "message": repr(exc), "status": 500}, status=500)
        record.status = response.status
        return response

    def _route(self, request: web.Request, record: Request) -> web.Response:
        match = re.fullmatch(rf"/{API_VERSION}/Accounts/([^/]+)/Messages(?:/([^/]+))?\.json", request.path)
        if not match:
            raise TwilioError(404, 20404)
        account, message_sid = match.groups()
        if (record.username, record.password) != (self.account_sid, self.auth_token) or account != self.account_sid:
            raise TwilioError(401, 20003)
        if message_sid is not None:
            if request.method != "GET":
                raise TwilioError(405, None, "Method not allowed")
            try:
                return web.json_response(self.message(message_sid).resource())
            except LookupError:
                raise TwilioError(404, 20404) from None
        if request.method != "POST":
            raise TwilioError(405, None, "Method not allowed")
        return self._create(record.form)

    def _create(self, form: dict[str, str]) -> web.Response:
        to, sender = form.get("To", "").strip(), form.get("From", "").strip()
        callback = form.get("StatusCallback") or None
        content_sid = form.get("ContentSid") or None
        if self._failures:
            failure = self._failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self._failures.pop(0)
            raise TwilioError(failure.status, failure.code, failure.message, retry_after=failure.retry_after, to=to)
        if not to:
            raise TwilioError(400, 21604)
        if not sender:
            raise TwilioError(400, 21603)
        body, variables = self._body(form, content_sid)
        if len(body) > MAX_BODY:
            raise TwilioError(400, 21617)
        if to.startswith(_WHATSAPP) != sender.startswith(_WHATSAPP):
            raise TwilioError(400, 21910)
        if not _E164.match(_bare(to)):
            raise TwilioError(400, 21211, to=to)
        if self.from_numbers is not None and sender not in self.from_numbers:
            raise TwilioError(400, 21606)
        if callback and not re.match(r"^https?://", callback):
            raise TwilioError(400, 21609)
        code = self._failing_numbers.get(_bare(to))
        if code is not None:
            raise TwilioError(400, code, to=to)
        whatsapp = to.startswith(_WHATSAPP)
        if whatsapp and content_sid is None and _bare(to) in self.closed_windows:
            raise TwilioError(400, 63016, to=to)
        message = Message(
            sid=f"SM{uuid.uuid4().hex}",
            account_sid=self.account_sid,
            to=to,
            from_=sender,
            body=body,
            status_callback=callback,
            num_segments=1 if whatsapp else sms_segments(body).segments,
            content_sid=content_sid,
            content_variables=variables,
        )
        self.messages.append(message)
        return web.json_response(message.resource(), status=201)

    def _body(self, form: dict[str, str], content_sid: str | None) -> tuple[str, dict[str, str]]:
        """The text that goes (the Body, or the template filled in) and the template's variables."""
        if content_sid is not None:
            return self._content(content_sid, form.get("ContentVariables"))
        body = form.get("Body", "")
        if not body.strip():
            raise TwilioError(400, 21602)
        return body, {}

    def _content(self, sid: str, raw_variables: str | None) -> tuple[str, dict[str, str]]:
        """The body a template makes with these variables, and the variables, or Twilio's error."""
        if not _CONTENT_SID.match(sid) or sid not in self.contents:
            raise TwilioError(400, 21655)
        try:
            variables = json.loads(raw_variables) if raw_variables else {}
        except ValueError:
            raise TwilioError(400, 21656) from None
        if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
            raise TwilioError(400, 21656)
        text = self.contents[sid]
        wanted = set(_PLACEHOLDER.findall(text))
        if wanted - set(variables):
            raise TwilioError(400, 21656, f"ContentVariables lacks {sorted(wanted - set(variables))}")
        return _PLACEHOLDER.sub(lambda m: variables[m.group(1)], text), variables


def _bare(number: str) -> str:
    number = number.strip()
    return number[len(_WHATSAPP) :] if number.startswith(_WHATSAPP) else number


def _basic_auth(header: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None, None
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return username, password
