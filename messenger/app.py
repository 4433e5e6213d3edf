"""build_app(settings): the one place that wires engine, series, templates, channels and the alarm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine

from messenger.bot.acknowledgement import AlertDesk
from messenger.bot.alerts import StaffAlerts
from messenger.bot.application import TelegramRuntime, build_telegram_application
from messenger.bot.context import BotDeps
from messenger.bot.keyboards import message_buttons
from messenger.bot.persistence import DatabasePersistence
from messenger.bot.reachability import TelegramReachability
from messenger.channels.base import Channel
from messenger.channels.calendar import calendar_attachments
from messenger.channels.console import ConsoleChannel
from messenger.channels.telegram import TelegramChannel
from messenger.clock import Clock, SystemClock
from messenger.config import Settings
from messenger.db import SessionFactory, create_engine, session_factory, transaction
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName
from messenger.domain.timing import QuietHours
from messenger.domain.triage import PhraseBooks
from messenger.migrations import upgrade
from messenger.observability.metrics import Metrics
from messenger.pacing.shared import SharedBudget
from messenger.pacing.telegram import telegram_pacer
from messenger.providers import provider_channels, unique_pacers
from messenger.rendering.compose import Composer
from messenger.rendering.context import Clinic
from messenger.rendering.environment import TemplateEnvironment
from messenger.rendering.strings import BotStrings
from messenger.scheduling.alarm import Alarm
from messenger.scheduling.dispatcher import (
    DeliveryListener,
    Dispatcher,
    Renderer,
    RetryPolicy,
)
from messenger.scheduling.fallback import ReminderFallback
from messenger.scheduling.followup import FOLLOW_UP_JOB, FOLLOW_UP_SECONDS, FollowUps
from messenger.scheduling.heartbeat import Heartbeat
from messenger.services.notes import NoteWriter
from messenger.services.staff import ensure_owners
from messenger.web.app import HealthCheck, create_web_app
from messenger.web.server import WebServer
from messenger.web.webhooks import WebhookDeps, webhook_routes


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


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    channels: Mapping[ChannelName, Channel] | None = None,
    listeners: Sequence[DeliveryListener] = (),
    serve_http: bool = False,
    pacing_clock: Clock | None = None,
    **engine_options: object,
) -> App:
    """Wire everything from settings. ``serve_http`` adds the web app (health, metrics, webhooks).

    Providers count their limits in real seconds, so pacers run on the system clock unless
    ``pacing_clock`` says otherwise (tests drive them with a manual clock).
    """
    clock = clock or SystemClock()
    pacing_clock = pacing_clock or SystemClock()
    engine = create_engine(settings.database_url, **engine_options)
    sessions = session_factory(engine)
    catalog = SeriesCatalog.load(settings.series_dir)
    templates = TemplateEnvironment(override_dir=settings.templates_dir, default_locale=settings.default_locale)
    composer = Composer(templates)
    quiet_hours = QuietHours(settings.quiet_hours_start, settings.quiet_hours_end)
    clinic = Clinic(settings.clinic_name, settings.clinic_phone)
    strings = BotStrings(templates)
    wired = dict(channels) if channels is not None else {}
    for name, channel in provider_channels(settings, clock, pacing_clock).items():
        wired.setdefault(name, channel)
    reachability = TelegramReachability(clock) if settings.telegram_token else None
    telegram_app = None
    if settings.telegram_token is not None:
        token_id = settings.telegram_token.get_secret_value().split(":", 1)[0]
        pacer = telegram_pacer(token_id=token_id, clock=pacing_clock, rate=settings.telegram_max_rate)
        # Only the process that receives updates holds conversations.
        receives = settings.telegram_updates != "none"
        persistence = DatabasePersistence(sessions=sessions, clock=clock) if receives else None
        telegram_app = build_telegram_application(
            settings, pacer=pacer, reachability=reachability, persistence=persistence
        )
        wired.setdefault(ChannelName.TELEGRAM, TelegramChannel(telegram_app.bot))
    if not wired:
        wired[ChannelName.CONSOLE] = ConsoleChannel()

    metrics = Metrics()
    # Staff work from Telegram: without it there is nobody to alert.
    alerts = (
        StaffAlerts(strings=strings, locale=settings.default_locale, staff_chat_id=settings.staff_chat_id)
        if telegram_app is not None
        else None
    )
    renderer = Renderer(
        composer=composer,
        clinic=clinic,
        buttons=message_buttons(strings),
        attachments=calendar_attachments(strings, clock),
        staff=alerts,
        notes=NoteWriter(strings=strings),
    )
    dispatcher = Dispatcher(
        sessions=sessions,
        clock=clock,
        channels=wired,
        renderer=renderer,
        catalog=catalog,
        quiet_hours=quiet_hours,
        retry=RetryPolicy(max_attempts=settings.max_attempts),
        batch_size=settings.dispatch_batch_size,
        listeners=[metrics.on_delivery, *listeners],
        lease=timedelta(seconds=settings.claim_lease_seconds),
    )
    pacers = unique_pacers(wired.values())
    budget = SharedBudget(sessions=sessions, pacers=pacers)
    heartbeat = Heartbeat(
        sessions=sessions,
        clock=clock,
        name=dispatcher.name,
        interval=timedelta(seconds=settings.heartbeat_seconds),
        ttl=timedelta(seconds=settings.heartbeat_ttl_seconds),
        budget=budget,
    )
    alarm = Alarm(dispatcher=dispatcher, clock=clock, sweep_seconds=settings.sweep_seconds, heartbeat=heartbeat)
    heartbeat.on_released = alarm.poke
    if settings.reminder_fallback_minutes:
        fallback = ReminderFallback(
            sessions=sessions, delay=timedelta(minutes=settings.reminder_fallback_minutes), quiet_hours=quiet_hours
        )
        dispatcher.listeners.append(fallback.on_delivery)
    metrics.watch_queue(sessions, clock)
    metrics.watch_acknowledgement(sessions)
    metrics.watch_scheduler(lambda: alarm.running)
    phrases = PhraseBooks(templates.search_path, templates.locales_for)
    if reachability is not None:
        metrics.watch_telegram(lambda: reachability.last_ok)
    telegram, desk = None, None
    if telegram_app is not None and alerts is not None:
        desk = AlertDesk(bot=telegram_app.bot, sessions=sessions, strings=strings, clock=clock, settings=settings)
        telegram = TelegramRuntime(
            telegram_app,
            polling=settings.telegram_updates == "polling",
            deps=BotDeps(
                settings=settings,
                sessions=sessions,
                clock=clock,
                catalog=catalog,
                templates=templates,
                composer=composer,
                strings=strings,
                quiet_hours=quiet_hours,
                clinic=clinic,
                alerts=alerts,
                poke=alarm.poke,
                phrases=phrases,
                desk=desk,
                channels=frozenset(wired),
            ),
        )
    followups = FollowUps(
        settings=settings,
        sessions=sessions,
        clock=clock,
        catalog=catalog,
        strings=strings,
        alerts=alerts,
        sms=wired.get(ChannelName.SMS),
        channels=frozenset(wired),
        poke=alarm.poke,
    )
    alarm.every(FOLLOW_UP_JOB, FOLLOW_UP_SECONDS, followups.run)
    web = None
    if serve_http:
        health = HealthCheck(
            sessions=sessions,
            scheduler_running=lambda: alarm.running,
            telegram=reachability,
            telegram_grace=timedelta(seconds=settings.telegram_health_seconds),
        )
        routes = webhook_routes(
            WebhookDeps(
                settings=settings,
                sessions=sessions,
                clock=clock,
                catalog=catalog,
                strings=strings,
                templates=templates,
                alerts=alerts,
                poke=alarm.poke,
                phrases=phrases,
                quiet_hours=quiet_hours,
            )
        )
        web = WebServer(
            create_web_app(health=health, metrics=metrics, routes=routes),
            host=settings.http_host,
            port=settings.http_port,
        )
    return App(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=sessions,
        catalog=catalog,
        templates=templates,
        composer=composer,
        channels=wired,
        dispatcher=dispatcher,
        alarm=alarm,
        quiet_hours=quiet_hours,
        clinic=clinic,
        strings=strings,
        metrics=metrics,
        followups=followups,
        heartbeat=heartbeat,
        budget=budget,
        telegram=telegram,
        web=web,
    )
