"""Settings, read from the environment (prefix ``MESSENGER_``) or a ``.env`` file.

Nothing here is built at import time: call :func:`load_settings` (or construct
:class:`Settings` directly in tests) and pass the result along.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import phonenumbers
from babel import Locale, UnknownLocaleError
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# The clinic the shipped article comes from; a clinic sets its own.
DEFAULT_CLINIC_NAME = "Renew Ketamine Infusion"
DEFAULT_CLINIC_PHONE = "949-503-1414"

# SQLAlchemy URL schemes as people write them, mapped to the async driver we ship.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
}
_SUPPORTED_DRIVERS = {"sqlite+aiosqlite", "postgresql+asyncpg", "postgresql+psycopg"}
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "changethis", "your-token-here", "xxx", "token"}


def async_database_url(url: str) -> str:
    """Return ``url`` with the async driver a plain URL implies (``sqlite://`` → aiosqlite)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {url!r} (expected e.g. sqlite:///messenger.db)") from exc
    driver = _ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    if driver not in _SUPPORTED_DRIVERS:
        raise ValueError(
            f"unsupported database {parsed.drivername!r}: use sqlite:///path or postgresql://user:pass@host/db"
        )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, int):
        return [value]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MESSENGER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # "NAME=" (as .env.example leaves the values a clinic must fill in) means not set.
        env_ignore_empty=True,
    )

    database_url: str = "sqlite:///messenger.db"
    telegram_token: SecretStr | None = None
    telegram_base_url: str | None = None
    owner_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    series_dir: Path | None = None
    templates_dir: Path | None = None
    clinic_name: str = DEFAULT_CLINIC_NAME
    clinic_phone: str = DEFAULT_CLINIC_PHONE
    # Said to a patient in crisis at any hour, with the emergency number and the clinic's phone.
    crisis_line: str = "988"
    emergency_number: str = "911"
    # Opening hours in the clinic's zone ("Mon-Fri 08:00-18:00, Sat 09:00-12:00"); unset: always open.
    clinic_hours: str | None = None
    clinic_timezone: str | None = None
    # ISO dates the clinic is closed (holidays), comma-separated.
    clinic_closed: Annotated[list[date], NoDecode] = Field(default_factory=list)
    # Given in the after-hours reply when set.
    after_hours_phone: str | None = None
    # An urgent alert nobody has taken goes out again after this many minutes (and by SMS to on-call).
    alert_renotify_minutes: float = Field(default=10.0, gt=0)
    oncall_phone: str | None = None

    default_series: str = "ketamine-chronic-pain"
    default_timezone: str = "America/Los_Angeles"
    default_locale: str = "en"
    # The clinic's convention for dates and times; a patient's language takes its territory (es → es_US).
    locale: str = "en_US"
    # Phone numbers typed without a country code are read as numbers of this region.
    phone_region: str = "US"
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    # How often the alarm wakes even when nothing is due (a safety net for rows
    # written by another process, and for expired claims).
    sweep_seconds: float = Field(default=30.0, gt=0)
    dispatch_batch_size: int = Field(default=50, gt=0, le=1000)
    max_attempts: int = Field(default=8, gt=0)
    # A Telegram reminder not answered within this many minutes is also sent by SMS (off if unset).
    reminder_fallback_minutes: int | None = Field(default=None, gt=0)
    # 'messenger run' brings the database schema up to date before it starts.
    auto_migrate: bool = True
    # A claim returns to the queue after this long if its process died (a send gets half of it, at most 60 s).
    claim_lease_seconds: float = Field(default=300.0, gt=0)
    # "polling": this process receives Telegram updates. "none": it only sends; with several
    # processes on one database exactly one polls (Telegram allows one getUpdates consumer).
    # "webhook": Telegram posts updates to <public_url>/telegram/webhook, which any process behind
    # a load balancer may receive (needs public_url and telegram_webhook_secret).
    telegram_updates: Literal["polling", "webhook", "none"] = "polling"
    # What Telegram sends with every webhook request: 16-256 characters of A-Z, a-z, 0-9, _ and -.
    telegram_webhook_secret: SecretStr | None = None
    # Requests per second to Telegram for the whole bot (Telegram allows 30): processes on one database
    # divide it between them through their heartbeats.
    telegram_max_rate: float = Field(default=29.0, gt=0)
    # Messages per second from each Twilio sender number, shared the same way (a US long code: 1).
    twilio_max_rate: float = Field(default=1.0, gt=0, le=1000)
    # Each process writes a heartbeat this often; one silent for the ttl is dead, its claims return to the queue.
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    heartbeat_ttl_seconds: float = Field(default=15.0, gt=0)
    # Invite links expire after this many days.
    invite_ttl_days: int = Field(default=7, gt=0, le=90)
    # Alerts go to this chat (a staff group) instead of each staff member's private chat.
    staff_chat_id: int | None = None
    # The address this app is reached at from outside (Twilio webhooks, unsubscribe links).
    public_url: str | None = None
    # Signs unsubscribe links and links to notes; at least 32 characters.
    signing_secret: SecretStr | None = None
    # A link to a note (sent where the channel cannot carry the note itself) works this many days.
    note_link_days: int = Field(default=30, gt=0, le=365)
    # SMS and WhatsApp through Twilio.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_base_url: str = "https://api.twilio.com"
    # E-mail through SMTP.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_use_tls: bool = False
    email_from: str | None = None
    # Words a discreet channel (SMS, e-mail subjects) must never show on a lock screen;
    # None keeps the shipped list (templates/sensitive-words.txt).
    sensitive_words: Annotated[list[str] | None, NoDecode] = None
    # Free text older than this many days (provider error texts, message bodies) is purged; None keeps it.
    retention_days: int | None = Field(default=None, gt=0, le=36500)
    log_level: str = "INFO"
    # One JSON object per log line (for log shippers) instead of plain text.
    log_json: bool = False
    # The small web app (health, metrics, inbound webhooks, the staff dashboard).
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)

    # An /enroll conversation left unanswered this long ends, and the staff member is told.
    enrolment_timeout_minutes: float = Field(default=30.0, gt=0)
    # /healthz reports Telegram unreachable once its calls have failed for this long.
    telegram_health_seconds: float = Field(default=120.0, gt=0)
    # The staff dashboard: a /dashboard link works once, for this long; a signed-in browser stays so this long.
    dashboard_link_minutes: float = Field(default=10.0, gt=0, le=1440)
    dashboard_session_hours: float = Field(default=12.0, gt=0, le=168)

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", value.get_secret_value()):
            raise ValueError("must be 16 to 256 characters of letters, digits, _ and - (Telegram's rule)")
        return value

    @model_validator(mode="after")
    def _webhook_needs_address(self) -> Settings:
        if self.telegram_updates == "webhook" and (not self.public_url or self.telegram_webhook_secret is None):
            raise ValueError(
                "MESSENGER_TELEGRAM_UPDATES=webhook needs MESSENGER_PUBLIC_URL and MESSENGER_TELEGRAM_WEBHOOK_SECRET"
            )
        return self

    @model_validator(mode="after")
    def _heartbeat(self) -> Settings:
        if self.heartbeat_ttl_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                "heartbeat_ttl_seconds must be at least twice heartbeat_seconds, "
                "or one late heartbeat would make a live process look dead"
            )
        return self

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        """A Babel locale, normalised ("es-US" → "es_US")."""
        try:
            return str(Locale.parse(value.replace("-", "_")))
        except (UnknownLocaleError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown locale {value!r} (expected e.g. en_US or es_US)") from exc

    @field_validator("phone_region")
    @classmethod
    def _phone_region(cls, value: str) -> str:
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (expected a two-letter country code such as US)")
        return value.upper()

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r} (DEBUG, INFO, WARNING, ERROR or CRITICAL)")
        return value.upper()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        async_database_url(value)  # raises a readable ValueError
        return value

    @field_validator("telegram_token", "signing_secret", "twilio_auth_token", "smtp_password")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if value.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder: paste the real value (for Telegram, the token BotFather gave you)")
        return value

    @field_validator("signing_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "must be at least 32 characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.startswith("http://") and not _loopback(value):
            # Links to notes travel in texts: only a loopback address (trying it locally) may go unencrypted.
            raise ValueError("must start with https:// (http:// only for a loopback address such as 127.0.0.1)")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (the address Twilio and e-mail links reach)")
        return value.rstrip("/")

    @field_validator("owner_ids", "sensitive_words", "clinic_closed", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _comma_separated(value)

    @field_validator("default_timezone", "clinic_timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        # The IANA names tzdata ships, exactly: "utc", "../etc/passwd" and "Local" are not among them.
        if value is not None and value not in zoneinfo.available_timezones():
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as Europe/Berlin)")
        return value

    @field_validator("series_dir", "templates_dir")
    @classmethod
    def _existing_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value

    @property
    def async_database_url(self) -> str:
        return async_database_url(self.database_url)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.default_timezone)

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def email_configured(self) -> bool:
        return bool(self.smtp_host and self.email_from)


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
