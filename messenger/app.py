"""build_app(settings): the one place that wires engine, series, templates, channels and the alarm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from starlette.routing import BaseRoute

from messenger.bot.acknowledgement import AlertDesk
from messenger.bot.alerts import StaffAlerts
from messenger.bot.application import TelegramRuntime, build_telegram_application
from messenger.bot.context import BotDeps
from messenger.bot.followup import FOLLOW_UP_JOB, FOLLOW_UP_SECONDS, FollowUps
from messenger.bot.journal import TAKEOVER_JOB, UpdateJournal
from messenger.bot.keyboards import message_buttons
from messenger.bot.persistence import DatabasePersistence
from messenger.bot.reachability import TelegramReachability
from messenger.bot.summaries import CourseSummaries
from messenger.channels.base import Channel, Outgoing
from messenger.channels.calendar import calendar_attachments
from messenger.channels.console import ConsoleChannel
from messenger.channels.providers import provider_channels
from messenger.channels.telegram import TelegramChannel
from messenger.clock import Clock, SystemClock
from messenger.config import Settings
from messenger.db import create_engine, session_factory
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName
from messenger.domain.timing import QuietHours
from messenger.domain.triage import PhraseBooks
from messenger.insights.documents import Insights
from messenger.observability.metrics import Metrics
from messenger.pacing.shared import SharedBudget, unique_pacers
from messenger.pacing.telegram import telegram_pacer
from messenger.rendering.compose import Composer
from messenger.rendering.context import Clinic
from messenger.rendering.environment import TemplateEnvironment
from messenger.rendering.strings import BotStrings
from messenger.runtime import App as App  # callers build and use it through this module
from messenger.scheduling.alarm import Alarm
from messenger.scheduling.dispatcher import (
    DeliveryListener,
    Dispatcher,
    OncallPhone,
    Renderer,
    RetryPolicy,
)
from messenger.scheduling.fallback import ReminderFallback
from messenger.scheduling.heartbeat import Heartbeat
from messenger.services.direct import DirectWriter
from messenger.services.notes import NoteLinks
from messenger.web.app import HealthCheck, create_web_app
from messenger.web.dashboard.access import DashboardDeps
from messenger.web.dashboard.routes import dashboard_routes
from messenger.web.notes import NoteDeps, note_routes
from messenger.web.server import WebServer
from messenger.web.telegram_webhook import WEBHOOK_PATH, telegram_webhook_route
from messenger.web.webhooks import WebhookDeps, unsubscribe_link, webhook_routes


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
    clinic = Clinic(settings.clinic_name, settings.clinic_phone, settings.locale)
    strings = BotStrings(templates)
    wired = dict(channels) if channels is not None else {}

    def unsubscribe_url(outgoing: Outgoing) -> str | None:
        return unsubscribe_link(settings, outgoing.contact_id, clock.now()) if outgoing.contact_id else None

    for name, channel in provider_channels(settings, clock, pacing_clock, unsubscribe_url=unsubscribe_url).items():
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
        wired[ChannelName.CONSOLE] = ConsoleChannel(formats=clinic.formats(settings.default_locale))

    metrics = Metrics()
    # Staff work from Telegram: without it there is nobody to alert.
    alerts = (
        StaffAlerts(strings=strings, locale=settings.default_locale, staff_chat_id=settings.staff_chat_id)
        if telegram_app is not None
        else None
    )
    # Notes travel by link where a channel cannot carry them (SMS), given a public address and a secret.
    note_links = NoteLinks.from_settings(settings)
    renderer = Renderer(
        composer=composer,
        clinic=clinic,
        buttons=message_buttons(strings),
        attachments=calendar_attachments(strings, clock),
        staff=alerts,
        notes=DirectWriter(strings=strings),
        note_links=note_links.for_message if note_links else None,
        oncall=OncallPhone(settings.oncall_phone, strings, settings.default_locale) if settings.oncall_phone else None,
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
    telegram, summaries, desk, journal = None, None, None, None
    if telegram_app is not None and alerts is not None:
        summaries = CourseSummaries(
            sessions=sessions,
            clock=clock,
            alerts=alerts,
            poke=alarm.poke,
            insights=Insights(
                sessions=sessions,
                strings=strings,
                clock=clock,
                locale=settings.default_locale,
                clinic_name=clinic.name,
                clinic_zone=settings.zone,
            ),
        )
        dispatcher.listeners.append(summaries.on_delivery)
        desk = AlertDesk(bot=telegram_app.bot, sessions=sessions, strings=strings, clock=clock, settings=settings)
        # Takes over the updates dead processes received by webhook (idle where the bot only sends).
        journal = UpdateJournal(telegram_app, sessions=sessions, clock=clock, heartbeat=heartbeat)
        alarm.every(TAKEOVER_JOB, settings.heartbeat_seconds, journal.take_over)
        telegram = TelegramRuntime(
            telegram_app,
            journal=journal,
            updates=settings.telegram_updates,
            webhook_url=f"{settings.public_url}{WEBHOOK_PATH}" if settings.public_url else None,
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
                summaries=summaries,
            ),
        )
    followups = FollowUps(
        settings=settings,
        sessions=sessions,
        clock=clock,
        catalog=catalog,
        alerts=alerts,
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
        routes: list[BaseRoute] = [
            *webhook_routes(
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
        ]
        if note_links is not None:
            routes += note_routes(
                NoteDeps(
                    links=note_links,
                    sessions=sessions,
                    clock=clock,
                    catalog=catalog,
                    templates=templates,
                    clinic=clinic,
                    default_locale=settings.default_locale,
                )
            )
        if telegram_app is not None:  # staff sign in to the dashboard with a link from the bot
            routes += dashboard_routes(
                DashboardDeps(
                    settings=settings,
                    sessions=sessions,
                    clock=clock,
                    catalog=catalog,
                    templates=templates,
                    strings=strings,
                    quiet_hours=quiet_hours,
                    clinic=clinic,
                    poke=alarm.poke,
                    channels=frozenset(wired),
                    desk=desk,
                    bot_username=lambda: telegram_app.bot.username,
                    renderer=renderer.for_staff_pages(note_links.shown if note_links is not None else None),
                )
            )
        secret = settings.telegram_webhook_secret
        if journal is not None and settings.telegram_updates == "webhook" and secret is not None:
            routes.append(telegram_webhook_route(journal, secret.get_secret_value()))
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
