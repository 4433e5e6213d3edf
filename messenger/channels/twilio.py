"""SMS and WhatsApp through Twilio's Messages REST API.

We call the REST API directly with ``httpx.AsyncClient`` rather than through the official
``twilio`` package, because sending is a single form POST and every answer has to become a typed
outcome here anyway (the SDK raises exceptions we would translate straight back). Owning the
client also gives us a configurable base URL, our own timeouts and connection pool, and no second
HTTP stack (the SDK's async client is built on aiohttp) in the dependency tree. On WhatsApp, an approved
template (``ContentSid`` + ``ContentVariables``) goes when the content asks for it, and once more when free text
is refused with 63016 ("outside the allowed window").
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from messenger.channels.base import Failed, Outgoing, RetryLater, SendOutcome, Sent
from messenger.channels.failures import FailureCode
from messenger.clock import Clock
from messenger.content import Capabilities, Flavour
from messenger.domain.enums import ChannelName
from messenger.pacing.pacer import Pacer

__all__ = [
    "DEFAULT_BASE_URL",
    "OPTED_OUT_CODES",
    "UNREACHABLE_CODES",
    "TwilioChannel",
    "mask_number",
    "twilio_failure",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
# Twilio's limit on a message body, whatever the channel (error 21617 above it).
MAX_BODY = 1600
# Twilio's "too many requests" error; a 429 answer without a Retry-After pauses this long.
TOO_MANY_REQUESTS = 20429
DEFAULT_PAUSE = 1.0

# Twilio error codes, as returned when creating a message or in a status callback's ErrorCode.
OPTED_OUT_CODES = frozenset(
    {
        21610,  # Attempt to send to unsubscribed recipient (they replied STOP)
    }
)
UNREACHABLE_CODES = frozenset(
    {
        21211,  # Invalid 'To' phone number
        21614,  # 'To' number is not a valid mobile number
        21408,  # Permission to send an SMS has not been enabled for the region of the 'To' number
        63024,  # Invalid message recipient (WhatsApp: not a WhatsApp user)
        # Reported later, through the status callback:
        30005,  # Unknown destination handset
        30006,  # Landline or unreachable carrier
    }
)

# Twilio error codes with a code of their own; any other is twilio.error with code=<n>.
_CODES = {int(c.value.split(".")[1]): c for c in FailureCode if c.value.split(".")[1].isdigit()}
_PHONE_NUMBER = re.compile(r"\+?\d[\d\s().\-]{5,}\d")
_WHATSAPP = "whatsapp:"
_MAX_REASON = 300


def mask_number(number: str) -> str:
    """A phone number as logs and reasons may show it: its last two digits only."""
    digits = re.sub(r"\D", "", number)
    return f"…{digits[-2:]}" if digits else "…"


def twilio_failure(code: int | None, message: str, *, status: int | None = None, address: str | None = None) -> Failed:
    """The outcome for a Twilio error ``code`` (from an API answer or a status callback).

    Twilio's own words go to ``detail`` only, with phone numbers in ``message`` (and ``address``,
    however short) cut to their last digits.
    """
    detail = _redact(message, address)[:_MAX_REASON]
    if code is None:
        params = (("status", str(status)),) if status else ()
        return Failed(FailureCode.TWILIO_HTTP if status else FailureCode.TWILIO_ERROR, params, detail=detail)
    known = _CODES.get(code)
    return Failed(
        known or FailureCode.TWILIO_ERROR,
        () if known else (("code", str(code)),),
        unreachable=code in UNREACHABLE_CODES,
        opted_out=code in OPTED_OUT_CODES,
        detail=detail,
    )


class TwilioChannel:
    """One Twilio sender: an SMS number, or a WhatsApp sender (``name`` says which)."""

    SMS_CAPABILITIES: ClassVar[Capabilities] = Capabilities(
        body=Flavour.SMS,
        max_length=MAX_BODY,
        discreet=True,
    )
    # WhatsApp itself allows 4096 characters, but Twilio's Messages API caps every Body at 1600.
    WHATSAPP_CAPABILITIES: ClassVar[Capabilities] = Capabilities(
        body=Flavour.TEXT,
        max_length=MAX_BODY,
        discreet=False,
    )
    CAPABILITIES: ClassVar[Mapping[ChannelName, Capabilities]] = MappingProxyType(
        {
            ChannelName.SMS: SMS_CAPABILITIES,
            ChannelName.WHATSAPP: WHATSAPP_CAPABILITIES,
        }
    )

    name: ChannelName
    capabilities: Capabilities

    def __init__(
        self,
        *,
        name: ChannelName,
        account_sid: str,
        auth_token: str | SecretStr,
        from_number: str,
        clock: Clock,
        base_url: str = DEFAULT_BASE_URL,
        status_callback_url: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 15.0,
        pacer: Pacer | None = None,
    ) -> None:
        name = ChannelName(name)
        if name not in self.CAPABILITIES:
            raise ValueError(f"Twilio sends SMS or WhatsApp, not {name.value}")
        if not account_sid or not from_number:
            raise ValueError("Twilio needs an account SID and a sender number")
        self.name = name
        self.capabilities = self.CAPABILITIES[name]
        self.account_sid = account_sid
        self._auth_token = auth_token if isinstance(auth_token, SecretStr) else SecretStr(auth_token)
        if not self._auth_token.get_secret_value():
            raise ValueError("Twilio needs an auth token")
        self.from_number = self._channel_address(from_number)
        self.base_url = base_url.rstrip("/")
        self.status_callback_url = status_callback_url or None
        self.clock = clock
        # Messages per second from this sender number (Twilio queues, then refuses, beyond it).
        self.pacer = pacer
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"User-Agent": "messenger"},
            follow_redirects=False,
        )

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/{API_VERSION}/Accounts/{quote(self.account_sid, safe='')}/Messages.json"

    def form(self, outgoing: Outgoing, *, as_template: bool | None = None) -> dict[str, str]:
        """The create-message form; on WhatsApp ``as_template`` (default: as the content asks) sends its template."""
        fields = {"To": self._channel_address(outgoing.address), "From": self.from_number}
        template = outgoing.content.template if self.name is ChannelName.WHATSAPP else None
        if template is not None and (outgoing.content.template_first if as_template is None else as_template):
            fields["ContentSid"] = template.sid
            if template.variables:
                fields["ContentVariables"] = json.dumps(dict(template.variables), ensure_ascii=False)
        else:
            fields["Body"] = outgoing.content.body
        if self.status_callback_url:
            fields["StatusCallback"] = self.status_callback_url
        return fields

    async def send(self, outgoing: Outgoing) -> SendOutcome:
        outcome = await self._post(self.form(outgoing), outgoing.address)
        refused = isinstance(outcome, Failed) and outcome.code is FailureCode.TWILIO_OUTSIDE_WINDOW
        if refused and "ContentSid" in (template := self.form(outgoing, as_template=True)):
            log.info("free text for message %s refused outside the window: sending its template", outgoing.message_id)
            outcome = await self._post(template, outgoing.address)
        if not isinstance(outcome, Sent):
            log.info(
                "Twilio %s to %s for message %s: %s",
                self.name.value,
                mask_number(outgoing.address),
                outgoing.message_id,
                outcome,
            )
        return outcome

    async def _post(self, fields: dict[str, str], address: str) -> SendOutcome:
        if self.pacer is not None:
            await self.pacer.acquire(None)
        try:
            response = await self._client.post(
                self.messages_url,
                data=fields,
                auth=(self.account_sid, self._auth_token.get_secret_value()),
                headers={"Accept": "application/json"},
            )
        except httpx.TimeoutException:
            return RetryLater(FailureCode.TWILIO_TIMEOUT)
        except httpx.RequestError as exc:  # connection refused or dropped, a mangled answer
            return RetryLater(FailureCode.TWILIO_UNAVAILABLE, params=(("error", type(exc).__name__),))
        outcome = self._outcome(response, address)
        if isinstance(outcome, RetryLater) and outcome.throttled and self.pacer is not None:
            self.pacer.pause(outcome.after or DEFAULT_PAUSE)
        return outcome

    async def aclose(self) -> None:
        """Close the HTTP client, if this channel created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> TwilioChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"TwilioChannel(name={self.name.value!r}, from={mask_number(self.from_number)!r})"

    # ------------------------------------------------------------------ answers

    def _outcome(self, response: httpx.Response, address: str) -> SendOutcome:
        status = response.status_code
        payload = _json(response)
        if 200 <= status < 300:
            sid = payload.get("sid")
            if not isinstance(sid, str):
                log.warning("Twilio accepted a message but its answer carried no sid")
            return Sent(sid if isinstance(sid, str) else None)
        code = _int(payload.get("code"))
        message = str(payload.get("message") or "")
        detail = _redact(message, address)[:_MAX_REASON]
        params = (("status", str(status)),) + ((("code", str(code)),) if code else ())
        if status == 429 or code == TOO_MANY_REQUESTS:
            return RetryLater(
                FailureCode.TWILIO_RATE_LIMITED,
                _retry_after(response, self.clock.now()),
                params,
                detail,
                throttled=True,
            )
        if status >= 500:
            return RetryLater(FailureCode.TWILIO_HTTP, _retry_after(response, self.clock.now()), params, detail)
        if status == 401:
            return Failed(FailureCode.TWILIO_CREDENTIALS, params)
        if 400 <= status < 500:
            return twilio_failure(code, message, status=status, address=address)
        return Failed(FailureCode.TWILIO_HTTP, params, detail=detail)

    def _channel_address(self, address: str) -> str:
        address = address.strip()
        if self.name is ChannelName.WHATSAPP and not address.lower().startswith(_WHATSAPP):
            return _WHATSAPP + address
        return address


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _int(value: object) -> int | None:
    """Twilio's error code, which its JSON gives as a number (and some proxies as a string)."""
    if isinstance(value, int | str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _retry_after(response: httpx.Response, now: datetime) -> float:
    """Seconds the ``Retry-After`` header asks for (as seconds or an HTTP date); 0 if absent."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return 0.0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _redact(text: str, address: str | None = None) -> str:
    """``text`` with ``address`` and anything else like a phone number cut to its last two digits."""
    text = " ".join(text.split())
    if address:
        bare = address.strip()
        bare = bare[len(_WHATSAPP) :] if bare.lower().startswith(_WHATSAPP) else bare
        digits = re.sub(r"\D", "", bare)
        for known in sorted({bare, digits} - {""}, key=len, reverse=True):
            if len(known) >= 3:
                text = text.replace(known, mask_number(known))
    return _PHONE_NUMBER.sub(lambda match: mask_number(match.group()), text)
