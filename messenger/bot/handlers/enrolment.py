"""``/enroll``: one line of ``key=value`` pairs, or, without arguments, a guided conversation.

The conversation (see ``enrolment.mmd``) asks the same things as the one-line form,
checks each answer on the spot, and can be cancelled at any point with /cancel. Its
state and answers are kept in the database (``messenger.bot.persistence``), so a restart
resumes it; left unanswered, it ends and the staff member is told.
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from messenger.bot import parsing
from messenger.bot.context import BotDeps, deps_of, reply, staff_only
from messenger.bot.keyboards import Callback, choice
from messenger.bot.steps import enrol_and_invite, enrolment_request, local_text
from messenger.domain.models import Staff
from messenger.services.enrolment import infusion_times, zone_of
from messenger.services.errors import ServiceError

NAME, TIMEZONE, FIRST, SPACING, ALL_TIMES, PHONE, EMAIL, CONFIRM = range(8)
END = ConversationHandler.END
COMMON_ZONES = ("America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York")


def _answers(context: ContextTypes.DEFAULT_TYPE) -> dict[str, str]:
    return context.user_data.setdefault("enrol", {})  # type: ignore[union-attr,no-any-return]


def _button(value: str) -> Callback:
    return Callback("e", 0, value)


async def _ask(update: Update, text: str, **kwargs: Any) -> None:
    await reply(update, text, **kwargs)


@staff_only()
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> int:
    """Enrol at once from one line, or begin the conversation."""
    text = update.effective_message.text.partition(" ")[2].strip()  # type: ignore[union-attr]
    if text:
        fields = parsing.key_values(text, parsing.ENROL_KEYS)
        await enrol_and_invite(update, context, deps, staff, enrolment_request(deps, fields))
        return END
    context.user_data["enrol"] = {}  # type: ignore[index]
    await _ask(update, deps.text("conversation.ask_name"))
    return NAME


async def got_name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Take the name, ask the time zone."""
    deps = deps_of(context)
    name = " ".join((update.effective_message.text or "").split())[:200]  # type: ignore[union-attr]
    if not name:
        await _ask(update, deps.text("conversation.ask_name"))
        return NAME
    _answers(context)["name"] = name
    zones = [(zone, _button(f"tz{i}")) for i, zone in enumerate(COMMON_ZONES)]
    await _ask(update, deps.text("conversation.ask_timezone", name=name), reply_markup=choice(*zones, per_row=2))
    return TIMEZONE


async def got_timezone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Take a zone (button or typed IANA name), ask the first infusion."""
    deps = deps_of(context)
    if update.callback_query:
        await update.callback_query.answer()
        index = (Callback.decode(update.callback_query.data) or _button("")).value.removeprefix("tz")
        zone = COMMON_ZONES[int(index)] if index.isdigit() and int(index) < len(COMMON_ZONES) else ""
    else:
        zone = (update.effective_message.text or "").strip()  # type: ignore[union-attr]
    try:
        _answers(context)["tz"] = zone_of(zone).key
    except ServiceError as error:
        await _ask(update, deps.explain(error))
        return TIMEZONE
    await _ask(update, deps.text("conversation.ask_first"))
    return FIRST


async def got_first(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Take the first infusion, ask about the spacing of the others."""
    deps = deps_of(context)
    answers = _answers(context)
    text = (update.effective_message.text or "").strip()  # type: ignore[union-attr]
    try:
        first = parsing.local_datetime(text, zone_of(answers["tz"]))
        if first <= deps.clock.now():
            raise ServiceError("first_infusion_in_past")
    except ServiceError as error:
        await _ask(update, deps.explain(error))
        return FIRST
    answers["first"] = text
    keyboard = choice(
        (deps.text("buttons.default_spacing"), _button("default")), (deps.text("buttons.all_times"), _button("all"))
    )
    await _ask(update, deps.text("conversation.ask_spacing"), reply_markup=keyboard)
    return SPACING


async def got_spacing(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Default spacing goes on to contacts; otherwise ask for every time."""
    deps = deps_of(context)
    query = update.callback_query
    if query is None:  # registered for buttons only; stay on this step for anything else
        return SPACING
    await query.answer()
    if (Callback.decode(query.data) or _button("")).value == "all":
        count = deps.catalog.get(deps.settings.default_series).infusions.count
        await _ask(update, deps.text("conversation.ask_all_times", count=count))
        return ALL_TIMES
    return await _ask_phone(update, deps)


async def got_all_times(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Take every infusion time, checked against the series."""
    deps = deps_of(context)
    answers = _answers(context)
    text = (update.effective_message.text or "").strip()  # type: ignore[union-attr]
    zone = zone_of(answers["tz"])
    try:
        times = parsing.datetimes(text, zone)
        infusion_times(deps.catalog.get(deps.settings.default_series), zone, first=None, given=times)
        if times[0] <= deps.clock.now():
            raise ServiceError("first_infusion_in_past")
    except ServiceError as error:
        await _ask(update, deps.explain(error))
        return ALL_TIMES
    answers["infusions"] = text
    answers.pop("first", None)
    return await _ask_phone(update, deps)


async def _ask_phone(update: Update, deps: BotDeps) -> int:
    await _ask(
        update, deps.text("conversation.ask_phone"), reply_markup=choice((deps.text("buttons.skip"), _button("skip")))
    )
    return PHONE


async def got_phone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Take a mobile number (or skip), ask the e-mail address."""
    return await _got_contact(update, context, "phone", parsing.phone, PHONE, "conversation.ask_email", EMAIL)


async def got_email(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Take an e-mail address (or skip), then show everything for confirmation."""
    state = await _got_contact(update, context, "email", parsing.email, EMAIL, None, CONFIRM)
    if state == CONFIRM:
        await _summary(update, context)
    return state


async def _got_contact(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    key: str,
    parse: Any,
    same: int,
    next_question: str | None,
    next_state: int,
) -> int:
    deps = deps_of(context)
    if update.callback_query:
        await update.callback_query.answer()
    else:
        try:
            _answers(context)[key] = parse(update.effective_message.text or "")  # type: ignore[union-attr]
        except ServiceError as error:
            await _ask(update, deps.explain(error))
            return same
    if next_question:
        await _ask(update, deps.text(next_question), reply_markup=choice((deps.text("buttons.skip"), _button("skip"))))
    return next_state


async def _summary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    deps = deps_of(context)
    answers = _answers(context)
    request = enrolment_request(deps, answers)
    zone = zone_of(request.timezone)
    times = infusion_times(
        deps.catalog.get(request.series_key), zone, first=request.first_infusion, given=request.infusions
    )
    keyboard = choice((deps.text("buttons.confirm_enrol"), _button("ok")), (deps.text("buttons.cancel"), _button("no")))
    await _ask(
        update,
        deps.text(
            "conversation.confirm",
            name=request.name,
            timezone=request.timezone,
            times=[local_text(t, zone) for t in times],
            phone=answers.get("phone"),
            email=answers.get("email"),
        ),
        reply_markup=keyboard,
    )


@staff_only()
async def confirmed(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> int:
    """Enrol on "Enrol"; drop everything on "Cancel"."""
    query = update.callback_query
    if query is None:  # registered for buttons only; stay on this step for anything else
        return CONFIRM
    await query.answer()
    answers = context.user_data.pop("enrol", {})  # type: ignore[union-attr]
    if (Callback.decode(query.data) or _button("")).value != "ok":
        await reply(update, deps.text("conversation.cancelled"))
        return END
    await enrol_and_invite(update, context, deps, staff, enrolment_request(deps, answers))
    return END


async def timed_out(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The conversation was left unanswered: drop the answers and say so."""
    context.user_data.pop("enrol", None)  # type: ignore[union-attr]
    if isinstance(update, Update) and update.effective_chat is not None:
        deps = deps_of(context)
        minutes = max(1, round(deps.settings.enrolment_timeout_minutes))
        await context.bot.send_message(
            update.effective_chat.id, deps.text("enrolment_timeout.expired", minutes=minutes), parse_mode="HTML"
        )


async def cancelled(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/cancel during the conversation: nothing is saved."""
    context.user_data.pop("enrol", None)  # type: ignore[union-attr]
    await reply(update, deps_of(context).text("conversation.cancelled"))
    return END


def conversation(*, timeout: timedelta, persistent: bool) -> ConversationHandler:  # type: ignore[type-arg]
    """The /enroll conversation; ``persistent`` keeps its state in the bot's persistence."""
    text = filters.TEXT & ~filters.COMMAND
    button = CallbackQueryHandler
    with warnings.catch_warnings():
        # Buttons are tracked per chat and user, not per message, on purpose: each step sends a new message.
        warnings.simplefilter("ignore", PTBUserWarning)
        return ConversationHandler(
            entry_points=[CommandHandler("enroll", start, filters=filters.ChatType.PRIVATE)],
            states={
                NAME: [MessageHandler(text, got_name)],
                TIMEZONE: [MessageHandler(text, got_timezone), button(got_timezone, pattern=r"^e:0:tz\d$")],
                FIRST: [MessageHandler(text, got_first)],
                SPACING: [button(got_spacing, pattern=r"^e:0:(default|all)$")],
                ALL_TIMES: [MessageHandler(text, got_all_times)],
                PHONE: [MessageHandler(text, got_phone), button(got_phone, pattern=r"^e:0:skip$")],
                EMAIL: [MessageHandler(text, got_email), button(got_email, pattern=r"^e:0:skip$")],
                CONFIRM: [button(confirmed, pattern=r"^e:0:(ok|no)$")],
                ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
            },
            fallbacks=[CommandHandler("cancel", cancelled)],
            name="enrolment",
            persistent=persistent,
            # PTB runs the timeout on its job queue: after a restart it is counted afresh.
            conversation_timeout=timeout,
        )
