"""``/dashboard``: a one-time link that signs a staff member in to the web dashboard."""

from __future__ import annotations

from datetime import timedelta

from telegram import LinkPreviewOptions, Update
from telegram.ext import ContextTypes

from messenger.bot.context import BotDeps, reply, staff_only
from messenger.db import transaction
from messenger.domain.models import Staff
from messenger.services.dashboard_access import issue_login

LOGIN_PATH = "/dashboard/login/"


@staff_only()
async def dashboard(update: Update, _context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Answer with a sign-in link that works once, for a few minutes."""
    base = deps.settings.public_url
    if not base:
        await reply(update, deps.text("dashboard.no_address"))
        return
    minutes = deps.settings.dashboard_link_minutes
    async with transaction(deps.sessions) as session:
        token = await issue_login(
            session=session, clock=deps.clock, staff_user_id=staff.telegram_user_id, ttl=timedelta(minutes=minutes)
        )
    # A link preview would be a fetch of the link by Telegram's robot: the page ignores robots, and none is asked for.
    await reply(
        update,
        deps.text("dashboard.link", link=f"{base}{LOGIN_PATH}{token}", minutes=round(minutes)),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
