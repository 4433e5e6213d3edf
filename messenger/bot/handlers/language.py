"""``/language``: the patient picks the language of everything the clinic sends them, with buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from messenger.bot.context import deps_of, guest_locale, reply
from messenger.bot.keyboards import Callback, choice
from messenger.bot.steps import LANGUAGE_KIND as KIND
from messenger.services.invites import patient_for_chat


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer each language the clinic speaks, each named in itself."""
    deps = deps_of(context)
    async with deps.sessions() as session:
        patient = await patient_for_chat(session, update.effective_chat.id)  # type: ignore[union-attr]
    if patient is None:
        locale = guest_locale(update, deps)
        await reply(
            update, deps.strings.get("patient.not_linked", locale, clinic=deps.clinic.name, phone=deps.clinic.phone)
        )
        return
    buttons = [
        (deps.strings.get(f"language.{code}", code), Callback(KIND, patient.pk, code)) for code in deps.languages
    ]
    await reply(update, deps.strings.get("patient.language_ask", patient.locale), reply_markup=choice(*buttons))
