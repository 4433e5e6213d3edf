"""``messenger forget`` and ``messenger purge``: the privacy commands an operator runs on the server.

The sentences come from the bot strings (section ``privacy``), in the clinic's language.
"""

from __future__ import annotations

import getpass

from messenger.bot.parsing import InputError, positive_int
from messenger.clock import SystemClock
from messenger.config import Settings
from messenger.db import create_engine, session_factory, transaction
from messenger.rendering.environment import TemplateEnvironment
from messenger.rendering.strings import BotStrings
from messenger.services.erasure import forget_patient, purge_expired
from messenger.services.errors import ServiceError


def _strings(settings: Settings) -> BotStrings:
    return BotStrings(TemplateEnvironment(override_dir=settings.templates_dir, default_locale=settings.default_locale))


def _operator() -> str:
    # Who ran it, as the audit trail's actor: the server account is all the CLI knows.
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except (KeyError, OSError):
        return "cli"


async def forget_from_cli(settings: Settings, patient_id: str) -> tuple[int, str]:
    """(exit code, sentence) for ``messenger forget <id>``."""
    strings, locale = _strings(settings), settings.default_locale
    try:
        number = positive_int(patient_id)
    except InputError:
        return 2, strings.plain("privacy.cli_bad_id", locale, value=patient_id[:60])
    engine = create_engine(settings.database_url)
    try:
        async with transaction(session_factory(engine)) as session:
            erased = await forget_patient(session=session, clock=SystemClock(), patient_id=number, actor=_operator())
    except ServiceError:
        return 1, strings.plain("errors.unknown_patient", locale, patient_id=number)
    finally:
        await engine.dispose()
    return 0, strings.plain("privacy.forgotten", locale, patient_id=number, contacts=erased.contacts)


async def purge_from_cli(settings: Settings) -> tuple[int, str]:
    """(exit code, sentence) for ``messenger purge``."""
    strings, locale = _strings(settings), settings.default_locale
    if not settings.retention_days:
        return 2, strings.plain("privacy.cli_no_retention", locale)
    engine = create_engine(settings.database_url)
    try:
        async with transaction(session_factory(engine)) as session:
            purged = await purge_expired(session=session, clock=SystemClock(), days=settings.retention_days)
    finally:
        await engine.dispose()
    return 0, strings.plain(
        "privacy.purged",
        locale,
        messages=purged.messages,
        conversation=purged.conversation,
        alerts=purged.alerts,
        days=settings.retention_days,
    )
