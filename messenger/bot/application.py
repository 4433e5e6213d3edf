"""The python-telegram-bot application: handlers registered, lifecycle run by hand beside the scheduler."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BasePersistence,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from messenger.bot.context import BotDeps, deps_of, reply
from messenger.bot.handlers import (
    attendance,
    buttons,
    dashboard,
    enrolment,
    inbox,
    insights,
    language,
    patient,
    staff,
)
from messenger.bot.journal import UpdateJournal
from messenger.bot.reachability import TelegramReachability, TrackedRequest
from messenger.config import Settings
from messenger.pacing.pacer import Pacer
from messenger.pacing.telegram import PacedRateLimiter

log = logging.getLogger(__name__)

STAFF_COMMANDS = {
    "patients": staff.patients,
    "patient": staff.patient,
    "reschedule": staff.reschedule,
    "pause": staff.pause,
    "cancel": staff.cancel,
    "invite": staff.invite,
    "preview": staff.preview,
    "stats": staff.stats,
    "staff": staff.staff_command,
    "inbox": inbox.inbox,
    "done": inbox.done,
    "reply": inbox.reply_command,
    "attended": attendance.attended,
    "missed": attendance.missed,
    "progress": insights.progress,
    "report": insights.report,
    "summary": insights.summary,
    "export": insights.export,
    "forget": staff.forget,
    "dashboard": dashboard.dashboard,
}
PATIENT_COMMANDS = {
    "start": patient.start,
    "schedule": patient.schedule,
    "stop": patient.stop,
    "resume": patient.resume,  # without arguments; "/resume <id>" is the staff command
    "help": patient.help_command,
    "language": language.language,
}
ALLOWED_UPDATES = ["message", "callback_query"]
# The patient commands Telegram lists in its menu; each description is the bot string ``menu.<command>``.
MENU = ("schedule", "language", "stop", "resume", "help")


def menu(deps: BotDeps, locale: str | None = None) -> list[BotCommand]:
    """The command menu in the clinic's language (or ``locale``)."""
    return [BotCommand(command, deps.strings.plain(f"menu.{command}", locale or deps.locale)) for command in MENU]


def build_telegram_application(
    settings: Settings,
    *,
    pacer: Pacer,
    reachability: TelegramReachability | None = None,
    persistence: BasePersistence | None = None,  # type: ignore[type-arg]
) -> Application:  # type: ignore[type-arg]
    """The bot. Every request it makes (sends, replies, edits, callback answers) waits in ``pacer``;
    with ``reachability``, every Bot API call is noted there (for /healthz); with ``persistence``,
    conversations survive a restart."""
    if settings.telegram_token is None:
        raise ValueError("the bot needs MESSENGER_TELEGRAM_TOKEN")
    builder = (
        ApplicationBuilder().token(settings.telegram_token.get_secret_value()).rate_limiter(PacedRateLimiter(pacer))
    )
    if reachability is not None:
        # PTB's own default pool sizes: many concurrent senders, one long poll.
        builder = builder.request(TrackedRequest(reachability, connection_pool_size=256)).get_updates_request(
            TrackedRequest(reachability, connection_pool_size=1)
        )
    if settings.telegram_base_url:
        base = settings.telegram_base_url.rstrip("/")
        builder = builder.base_url(base).base_file_url(base.rsplit("/", 1)[0] + "/file/bot")
    if persistence is not None:
        builder = builder.persistence(persistence)
    application = builder.build()
    register_handlers(application, enrolment_timeout=timedelta(minutes=settings.enrolment_timeout_minutes))
    return application


def register_handlers(application: Application, *, enrolment_timeout: timedelta) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    application.add_handler(
        enrolment.conversation(timeout=enrolment_timeout, persistent=application.persistence is not None)
    )
    # Registered before the patient's /resume: the first matching handler of a group wins.
    application.add_handler(CommandHandler("resume", staff.resume, filters=private, has_args=True))
    for name, callback in (STAFF_COMMANDS | PATIENT_COMMANDS).items():
        application.add_handler(CommandHandler(name, callback, filters=private))
    application.add_handler(CallbackQueryHandler(buttons.pressed))
    anything = (
        filters.TEXT
        | filters.VOICE
        | filters.AUDIO
        | filters.PHOTO
        | filters.VIDEO
        | filters.VIDEO_NOTE
        | filters.Document.ALL
        | filters.Sticker.ALL
    )
    application.add_handler(MessageHandler(private & anything & ~filters.COMMAND, patient.free_text))
    application.add_handler(MessageHandler(private & filters.COMMAND, unknown_command))
    application.add_error_handler(on_error)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point to /help for anything else that looks like a command."""
    await patient.help_command(update, context)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure (never into the chat) and tell the person what is and is not known.

    A handler can fail after its change was committed (its reply could not be sent), so the
    sentence never claims that nothing changed: it says the outcome is unconfirmed and how to check.
    """
    log.error("handler failed for update %s", getattr(update, "update_id", "?"), exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await reply(update, deps_of(context).text("outcome.unconfirmed"))
        except Exception:
            log.warning("could not tell the user about the failure")


class TelegramRuntime:
    """Starts and stops the bot (polling or webhook) inside the caller's event loop.

    With a ``journal``, the updates dead processes received by webhook and did not handle are
    taken over as soon as the bot runs (and later on the journal's own job)."""

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        *,
        deps: BotDeps,
        updates: str = "polling",
        webhook_url: str | None = None,
        journal: UpdateJournal | None = None,
    ) -> None:
        self.application = application
        self.deps = deps
        self.updates = updates
        self.webhook_url = webhook_url
        self.journal = journal
        application.bot_data["deps"] = deps

    async def start(self) -> None:
        await self.application.initialize()
        if self.updates == "none":  # send-only: another process receives the updates
            log.info("Telegram bot @%s: sending only, not receiving updates", self.application.bot.username)
            return
        await self.application.bot.set_my_commands(menu(self.deps))
        for code in self.deps.languages:
            # Telegram shows this menu to people whose app is set to that language.
            if code != self.deps.locale:
                await self.application.bot.set_my_commands(menu(self.deps, code), language_code=code)
        await self.application.start()
        if self.journal is not None:  # before new updates arrive: these are older
            await self.journal.take_over()
        if self.updates == "webhook":
            secret = self.deps.settings.telegram_webhook_secret
            await self.application.bot.set_webhook(
                url=self.webhook_url or "",
                secret_token=secret.get_secret_value() if secret else None,
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("Telegram bot @%s receives updates by webhook", self.application.bot.username)
            return
        if self.application.updater is None:
            raise RuntimeError("the Telegram application was built without an updater")
        await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        log.info("Telegram bot @%s is polling", self.application.bot.username)

    async def stop(self) -> None:
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
