"""The running application: what build_app wired, started and stopped in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine

from messenger.bot.application import TelegramRuntime
from messenger.bot.followup import FollowUps
from messenger.channels.base import Channel
from messenger.clock import Clock
from messenger.config import Settings
from messenger.db import SessionFactory, transaction
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName
from messenger.domain.timing import QuietHours
from messenger.migrations import upgrade
from messenger.observability.metrics import Metrics
from messenger.pacing.shared import SharedBudget
from messenger.rendering.compose import Composer
from messenger.rendering.context import Clinic
from messenger.rendering.environment import TemplateEnvironment
from messenger.rendering.strings import BotStrings
from messenger.scheduling.alarm import Alarm
from messenger.scheduling.dispatcher import Dispatcher
from messenger.scheduling.heartbeat import Heartbeat
from messenger.services.erasure import Purged, purge_expired
from messenger.services.staff import ensure_owners
from messenger.web.server import WebServer

__all__ = ["App"]

RETENTION_JOB = "retention"


@dataclass
class App:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: SessionFactory
    catalog: SeriesCatalog
    templates: TemplateEnvironment
    composer: Composer
    channels: dict[ChannelName, Channel]
    dispatcher: Dispatcher
    alarm: Alarm
    quiet_hours: QuietHours
    clinic: Clinic
    strings: BotStrings
    metrics: Metrics
    followups: FollowUps
    heartbeat: Heartbeat
    budget: SharedBudget
    telegram: TelegramRuntime | None = None
    web: WebServer | None = None
    _started: bool = field(default=False, repr=False)

    async def start(self, *, migrate: bool | None = None) -> None:
        """Bring the schema up to date (unless told not to), then start the alarm, the bot and the web app."""
        if self.settings.auto_migrate if migrate is None else migrate:
            await upgrade(self.settings.database_url)
        async with transaction(self.sessions) as session:
            await ensure_owners(session=session, clock=self.clock, owner_ids=self.settings.owner_ids)
        # Before the first claim: take back what dead processes held, and this process's share of the budget.
        await self.heartbeat.beat()
        self.alarm.start()
        if self.settings.retention_days:
            # Also at start: a process that never runs for long still keeps the promise.
            self.alarm.scheduler.add_job(
                self.purge, "interval", hours=6, id=RETENTION_JOB, replace_existing=True, coalesce=True
            )
            await self.purge()
        self._started = True
        if self.telegram is not None:
            await self.telegram.start()
        if self.web is not None:  # last: health turns green once everything runs
            await self.web.start()

    async def purge(self) -> Purged | None:
        """Purge free text older than the retention setting (None when no retention is set)."""
        if not self.settings.retention_days:
            return None
        async with transaction(self.sessions) as session:
            return await purge_expired(session=session, clock=self.clock, days=self.settings.retention_days)

    async def stop(self) -> None:
        """Stop taking work (web, bot), let in-flight sends finish, release claims, close."""
        if self.web is not None:
            await self.web.stop()
        if self.telegram is not None:
            await self.telegram.stop()
        if self._started:
            await self.alarm.stop()
            await self.budget.drain()
            await self.heartbeat.stop()
        for channel in self.channels.values():
            close = getattr(channel, "aclose", None)
            if close is not None:
                await close()
        await self.engine.dispose()

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
