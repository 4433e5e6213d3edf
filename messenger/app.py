"""build_app(settings): the one place that wires engine, series, templates, channels and the alarm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine

from messenger.bot.alerts import StaffAlerts
from messenger.bot.application import TelegramRuntime, build_telegram_application
from messenger.bot.context import BotDeps
from messenger.bot.keyboards import step_buttons
from messenger.channels.base import Button, Channel
from messenger.channels.console import ConsoleChannel
from messenger.channels.telegram import TelegramChannel
from messenger.clock import Clock, SystemClock
from messenger.config import Settings
from messenger.db import SessionFactory, create_engine, create_schema, session_factory, transaction
from messenger.domain.enums import ChannelName
from messenger.domain.models import Message
from messenger.domain.series import SeriesCatalog
from messenger.domain.timing import QuietHours
from messenger.observability.metrics import Metrics
from messenger.rendering.compose import Composer
from messenger.rendering.context import Clinic
from messenger.rendering.environment import TemplateEnvironment
from messenger.rendering.strings import BotStrings
from messenger.scheduling.alarm import Alarm
from messenger.scheduling.dispatcher import DeliveryListener, Dispatcher, RetryPolicy
from messenger.services.staff import ensure_owners
from messenger.web.app import HealthCheck, create_web_app
from messenger.web.server import WebServer


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
    telegram: TelegramRuntime | None = None
    web: WebServer | None = None
    _started: bool = field(default=False, repr=False)

    async def start(self, *, create_tables: bool = True) -> None:
        if create_tables:
            await create_schema(self.engine)
        async with transaction(self.sessions) as session:
            await ensure_owners(session=session, clock=self.clock, owner_ids=self.settings.owner_ids)
        self.alarm.start()
        self._started = True
        if self.telegram is not None:
            await self.telegram.start()
        if self.web is not None:  # last: health turns green once everything runs
            await self.web.start()

    async def stop(self) -> None:
        """Stop taking work (web, bot), let in-flight sends finish, release claims, close."""
        if self.web is not None:
            await self.web.stop()
        if self.telegram is not None:
            await self.telegram.stop()
        if self._started:
            await self.alarm.stop()
        for channel in self.channels.values():
            close = getattr(channel, "aclose", None)
            if close is not None:
                await close()
        await self.engine.dispose()

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


def build_app(settings: Settings, *, clock: Clock | None = None,
              channels: Mapping[ChannelName, Channel] | None = None,
              listeners: Sequence[DeliveryListener] = (), serve_http: bool = False,
              **engine_options: object) -> App:
    """Wire everything from settings. ``serve_http`` adds the web app (health, metrics, webhooks)."""
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url, **engine_options)
    sessions = session_factory(engine)
    catalog = SeriesCatalog.load(settings.series_dir)
    templates = TemplateEnvironment(override_dir=settings.templates_dir, default_locale=settings.default_locale)
    composer = Composer(templates)
    quiet_hours = QuietHours(settings.quiet_hours_start, settings.quiet_hours_end)
    clinic = Clinic(settings.clinic_name, settings.clinic_phone)
    strings = BotStrings(templates)
    wired = dict(channels) if channels is not None else {}
    telegram_app = build_telegram_application(settings) if settings.telegram_token else None
    if telegram_app is not None:
        wired.setdefault(ChannelName.TELEGRAM, TelegramChannel(telegram_app.bot))
    if not wired:
        wired[ChannelName.CONSOLE] = ConsoleChannel()

    def buttons(message: Message, locale: str) -> tuple[tuple[Button, ...], ...]:
        return step_buttons(message.kind, message.id or 0, strings, locale)

    metrics = Metrics()
    dispatcher = Dispatcher(
        sessions=sessions, clock=clock, channels=wired, composer=composer, catalog=catalog, clinic=clinic,
        quiet_hours=quiet_hours, retry=RetryPolicy(max_attempts=settings.max_attempts),
        batch_size=settings.dispatch_batch_size, listeners=[metrics.on_delivery, *listeners], buttons=buttons,
    )
    alarm = Alarm(dispatcher=dispatcher, clock=clock, sweep_seconds=settings.sweep_seconds)
    metrics.watch_queue(sessions, clock)
    metrics.watch_scheduler(lambda: alarm.running)
    web = None
    if serve_http:
        health = HealthCheck(sessions=sessions, scheduler_running=lambda: alarm.running)
        web = WebServer(create_web_app(health=health, metrics=metrics), host=settings.http_host,
                        port=settings.http_port)
    telegram = None
    if telegram_app is not None:
        alerts = StaffAlerts(bot=telegram_app.bot, sessions=sessions, strings=strings,
                             locale=settings.default_locale, staff_chat_id=settings.staff_chat_id)
        dispatcher.listeners.append(alerts.on_delivery)
        telegram = TelegramRuntime(telegram_app, BotDeps(
            settings=settings, sessions=sessions, clock=clock, catalog=catalog, templates=templates,
            composer=composer, strings=strings, quiet_hours=quiet_hours, clinic=clinic, alerts=alerts,
            poke=alarm.poke,
        ))
    return App(settings=settings, clock=clock, engine=engine, sessions=sessions, catalog=catalog,
               templates=templates, composer=composer, channels=wired, dispatcher=dispatcher, alarm=alarm,
               quiet_hours=quiet_hours, clinic=clinic, strings=strings, metrics=metrics, telegram=telegram, web=web)
