"""What every handler needs, passed in explicitly through ``bot_data``, plus the staff guard."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from messenger.bot.acknowledgement import AlertDesk
from messenger.bot.alerts import StaffAlerts
from messenger.bot.parsing import InputError
from messenger.bot.retries import with_retries
from messenger.bot.summaries import CourseSummaries
from messenger.clock import Clock
from messenger.config import Settings
from messenger.content import Flavour
from messenger.db import SessionFactory, transaction
from messenger.domain import bounds
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName
from messenger.domain.hours import ClinicHours, clinic_hours
from messenger.domain.models import Patient, Staff
from messenger.domain.timing import QuietHours
from messenger.domain.triage import PhraseBooks
from messenger.insights.documents import Insights
from messenger.rendering.compose import Composer
from messenger.rendering.context import Clinic
from messenger.rendering.environment import TemplateEnvironment
from messenger.rendering.formats import LocalFormats
from messenger.rendering.strings import BotStrings
from messenger.services import audit
from messenger.services.errors import ServiceError
from messenger.services.guesses import GuessLimits
from messenger.services.staff import active_staff

log = logging.getLogger(__name__)


@dataclass
class BotDeps:
    settings: Settings
    sessions: SessionFactory
    clock: Clock
    catalog: SeriesCatalog
    templates: TemplateEnvironment
    composer: Composer
    strings: BotStrings
    quiet_hours: QuietHours
    clinic: Clinic
    alerts: StaffAlerts
    poke: Callable[[], None]
    phrases: PhraseBooks
    # What happens to urgent alerts once sent (None in tests that build the deps without a bot).
    desk: AlertDesk | None = None
    # The channels this process sends on (a staff reply goes only on one of these).
    channels: frozenset[ChannelName] | None = None
    # Sends the end-of-course PDF to staff (a cancelled series gets one too).
    summaries: CourseSummaries | None = None
    guess_limits: GuessLimits = field(default_factory=GuessLimits)

    @property
    def locale(self) -> str:
        return self.settings.default_locale

    @property
    def languages(self) -> list[str]:
        """The languages patients can choose: every locale folder of the templates."""
        return self.templates.locales()

    @property
    def staff_formats(self) -> LocalFormats:
        """Staff read dates in the clinic's own convention."""
        return self.clinic.formats(self.locale)

    def when(self, instant: datetime, zone: ZoneInfo) -> str:
        """A time as staff read it, in the clinic's convention: 'Tue, Dec 1, 2026, 10:00 AM PST'."""
        return self.staff_formats.stamp(instant.astimezone(zone))

    @property
    def hours(self) -> ClinicHours:
        return clinic_hours(self.settings)

    @property
    def clinic_zone(self) -> ZoneInfo:
        return self.settings.zone

    @property
    def insights(self) -> Insights:
        return Insights(
            sessions=self.sessions,
            strings=self.strings,
            clock=self.clock,
            locale=self.locale,
            clinic_name=self.clinic.name,
            clinic_zone=self.clinic_zone,
        )

    def text(self, key: str, **params: Any) -> str:
        return self.strings.get(key, self.locale, **params)

    def page(self, template: str, locale: str | None = None, /, **context: Any) -> str:
        """A longer bot message from ``templates/<locale>/bot/<template>.telegram.html.j2``."""
        return self.templates.render(f"bot/{template}", Flavour.TELEGRAM, locale or self.locale, context)

    async def alert(self, session: AsyncSession, key: str, patient: Patient, **params: Any) -> None:
        """Queue a staff alert about ``patient`` in the caller's transaction (it goes when that commits)."""
        await self.alerts.queue(session, now=self.clock.now(), key=key, patient_id=patient.pk, **params)

    def explain(self, error: ServiceError, locale: str | None = None) -> str:
        return explain(self.strings, error, locale or self.locale)


def explain(strings: BotStrings, error: ServiceError, locale: str) -> str:
    """The error's sentence; text it echoes is cut short, so a hostile value cannot flood the reply."""
    prefix = "staff" if isinstance(error, InputError) else "errors"
    # A dotted code names its own section (``input.too_long``).
    key = error.code if "." in error.code else f"{prefix}.{error.code}"
    params = {k: bounds.echo(v) if isinstance(v, str) else v for k, v in error.params.items()}
    return strings.get(key, locale, **params)


def guest_locale(update: Update, deps: BotDeps) -> str:
    """For someone not (yet) linked to a patient: their Telegram app's language, if the clinic speaks it."""
    code = (update.effective_user.language_code or "") if update.effective_user else ""
    language = code.replace("-", "_").split("_")[0].lower()
    return language if language in deps.languages else deps.locale


def deps_of(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    return context.bot_data["deps"]  # type: ignore[no-any-return]


async def reply(update: Update, text: str, **kwargs: Any) -> None:
    """Answer in the chat: in several messages if Telegram's limit asks for it, the buttons on the last."""
    message = update.effective_message
    if message is None:
        return
    parts = bounds.split_message(text)
    for number, part in enumerate(parts, start=1):
        extra = kwargs if number == len(parts) else {}
        await with_retries(lambda p=part, e=extra: message.reply_text(p, parse_mode=ParseMode.HTML, **e))  # type: ignore[misc]


P = ParamSpec("P")
R = TypeVar("R")


def staff_only(
    *, audit_as: str | None = None
) -> Callable[
    [Callable[Concatenate[Update, ContextTypes.DEFAULT_TYPE, BotDeps, Staff, P], Awaitable[R]]],
    Callable[Concatenate[Update, ContextTypes.DEFAULT_TYPE, P], Coroutine[Any, Any, R | None]],
]:
    """Refuse non-staff with one neutral sentence; explain service errors; audit reads as ``audit_as``.

    The handler python-telegram-bot calls takes the update and context (and whatever else the
    callback takes after ``deps`` and ``staff``), and returns what the callback returns, or None
    when it did not run.
    """

    def decorate(
        callback: Callable[Concatenate[Update, ContextTypes.DEFAULT_TYPE, BotDeps, Staff, P], Awaitable[R]],
    ) -> Callable[Concatenate[Update, ContextTypes.DEFAULT_TYPE, P], Coroutine[Any, Any, R | None]]:
        @functools.wraps(callback)
        async def handler(
            update: Update, context: ContextTypes.DEFAULT_TYPE, /, *args: P.args, **kwargs: P.kwargs
        ) -> R | None:
            deps = deps_of(context)
            user_id = update.effective_user.id if update.effective_user else 0
            async with deps.sessions() as session:
                staff = await active_staff(session, user_id)
            if staff is None:
                await refuse(update, deps, user_id, callback.__name__)
                return None
            try:
                result = await callback(update, context, deps, staff, *args, **kwargs)
            except ServiceError as error:
                await reply(update, deps.explain(error))
                return None
            if audit_as:
                async with transaction(deps.sessions) as session:
                    audit.record(
                        session,
                        at=deps.clock.now(),
                        actor=audit.staff_actor(user_id),
                        action=audit_as,
                        arguments=len(context.args or []),
                    )
            return result

        return handler

    return decorate


async def refuse(update: Update, deps: BotDeps, user_id: int, what: str) -> None:
    log.info("refused %s for a non-staff user", what)
    async with transaction(deps.sessions) as session:
        audit.record(session, at=deps.clock.now(), actor=f"telegram:{user_id}", action="refused", command=what)
    await reply(update, deps.text("staff.not_staff"))
