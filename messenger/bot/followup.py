"""What must not be left waiting: urgent alerts nobody took, check-ins nobody answered.

:meth:`FollowUps.run` is one sweep, run by the alarm's periodic job and by tests after they
move the clock. Each follow-up is claimed in the database before it is sent, so several
processes sweeping at once still send it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import and_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from messenger.bot.acknowledgement import claim_untaken
from messenger.bot.alerts import StaffAlerts
from messenger.clock import Clock
from messenger.config import Settings
from messenger.db import SessionFactory, transaction
from messenger.domain.alerts import ONCALL_CHANNEL
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName, MessageStatus, StepKind
from messenger.domain.models import Answer, CheckinFollowUp, Infusion, Message, Series
from messenger.services.direct import queue_direct

log = logging.getLogger(__name__)

# How often untaken alerts and unanswered check-ins are looked at (a fraction of the shortest delay).
FOLLOW_UP_SECONDS = 30.0
FOLLOW_UP_JOB = "follow-up"
# A check-in older than this is not chased any more (the next one is on its way).
CHASE_WITHIN = timedelta(days=3)


@dataclass
class FollowUpReport:
    renotified: int = 0
    reminded: int = 0
    reported: int = 0


class FollowUps:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: SessionFactory,
        clock: Clock,
        catalog: SeriesCatalog,
        alerts: StaffAlerts | None,
        channels: frozenset[ChannelName],
        poke: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.catalog = catalog
        self.alerts = alerts
        self.channels = channels
        self.poke = poke

    async def run(self) -> FollowUpReport:
        report = FollowUpReport()
        try:
            report.renotified = await self._renotify()
            report.reminded, report.reported = await self._chase_checkins()
        except Exception:
            log.exception("follow-up sweep failed; the next sweep will try again")
        return report

    async def _renotify(self) -> int:
        if self.alerts is None:
            return 0
        delay = timedelta(minutes=self.settings.alert_renotify_minutes)
        now = self.clock.now()
        # Without an on-call number or SMS nobody is paged: no row is written.
        page = bool(self.settings.oncall_phone) and ONCALL_CHANNEL in self.channels
        async with transaction(self.sessions) as session:
            alerts = await claim_untaken(session, before=now - delay, now=now)
            for alert in alerts:
                # The copies and the page commit with the claim: each goes once, retried until it does.
                await self.alerts.queue_again(session, now=now, alert=alert)
                if page:
                    self.alerts.page_oncall(session, now=now, alert=alert)
        if alerts:
            self.poke()
        return len(alerts)

    async def _chase_checkins(self) -> tuple[int, int]:
        now = self.clock.now()
        async with self.sessions() as session:
            rows = (
                await session.exec(
                    select(Message, Series, CheckinFollowUp)
                    .join(Series, col(Series.id) == col(Message.series_id))
                    # Only a check-in after its infusion is chased: the baseline before the first is not.
                    .join(
                        Infusion,
                        and_(
                            col(Infusion.series_id) == col(Message.series_id),
                            col(Infusion.number) == col(Message.infusion_number),
                            col(Infusion.scheduled_at) <= col(Message.due_at),
                        ),
                    )
                    .outerjoin(CheckinFollowUp, col(CheckinFollowUp.message_id) == col(Message.id))
                    .where(
                        Message.kind == StepKind.CHECKIN,
                        Message.status == MessageStatus.SENT,
                        col(Message.sent_at) >= now - CHASE_WITHIN,
                        col(CheckinFollowUp.reported_at).is_(None),
                    )
                )
            ).all()
            answered = set(
                (
                    await session.exec(
                        select(Answer.message_id).where(col(Answer.message_id).in_([m.id for m, _, _ in rows]))
                    )
                ).all()
            )
        reminded = reported = 0
        for message, series, found in rows:
            followup = cast(CheckinFollowUp | None, found)  # an outer join: None until the first reminder
            if message.id in answered or series.definition_key not in self.catalog or message.sent_at is None:
                continue
            delay = self.catalog.get(series.definition_key).checkin_reminder_after.approximate
            if followup is None and message.sent_at + delay <= now:
                reminded += await self._remind(message)
            elif followup is not None and followup.reminded_at and followup.reminded_at + delay <= now:
                reported += await self._report(message)
        return reminded, reported

    async def _remind(self, message: Message) -> int:
        now = self.clock.now()
        try:
            # The claim and the reminder's row commit together: sent once, retried until it goes.
            async with transaction(self.sessions) as session:
                session.add(CheckinFollowUp(message_id=message.pk, reminded_at=now))
                await session.flush()
                await queue_direct(
                    session,
                    now=now,
                    patient_id=message.patient_id,
                    key="listening.checkin_reminder",
                    channels=self.channels,
                    clinic=self.settings.clinic_name,
                )
        except IntegrityError:  # another process reminded first
            return 0
        self.poke()
        return 1

    async def _report(self, message: Message) -> int:
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            followup = await session.get(CheckinFollowUp, message.pk, with_for_update=True)
            if followup is None or followup.reported_at is not None:
                return 0
            followup.reported_at = now
            if self.alerts is not None:
                await self.alerts.queue(
                    session,
                    now=now,
                    key="inbox.no_answer",
                    patient_id=message.patient_id,
                    number=message.infusion_number or 0,
                )
        self.poke()
        return 1
