"""What every handler needs, passed in explicitly through ``bot_data``, plus the staff guard."""

from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from messenger.bot.acknowledgement import AlertDesk
from messenger.bot.alerts import StaffAlerts
from messenger.bot.parsing import InputError
from messenger.bot.summaries import CourseSummaries
from messenger.clock import Clock
from messenger.config import Settings
from messenger.content import Flavour
from messenger.db import SessionFactory, transaction
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
from messenger.rendering.strings import BotStrings
from messenger.services import audit
from messenger.services.errors import ServiceError
from messenger.services.staff import active_staff

log = logging.getLogger(__name__)


class Throttle:
    """At most ``limit`` failures per ``window`` seconds per user (guessing invite codes, say)."""

    def __init__(self, *, limit: int = 5, window: float = 900.0, monotonic: Callable[[], float] = time.monotonic):
        self.limit, self.window, self._now = limit, window, monotonic
        self._failures: dict[int, deque[float]] = defaultdict(deque)

    def blocked(self, user_id: int) -> bool:
        failures = self._failures[user_id]
        while failures and failures[0] <= self._now() - self.window:
            failures.popleft()
        return len(failures) >= self.limit

    def fail(self, user_id: int) -> None:
        self._failures[user_id].append(self._now())


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
    start_throttle: Throttle = field(default_factory=Throttle)
    # Sends the end-of-course PDF to staff (a cancelled series gets one too).
    summaries: CourseSummaries | None = None

    @property
    def locale(self) -> str:
        return self.settings.default_locale

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
        prefix = "staff" if isinstance(error, InputError) else "errors"
        return self.strings.get(f"{prefix}.{error.code}", locale or self.locale, **error.params)


def deps_of(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    return context.bot_data["deps"]  # type: ignore[no-any-return]


async def reply(update: Update, text: str, **kwargs: Any) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(text, parse_mode=ParseMode.HTML, **kwargs)


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
