"""Telegram updates by webhook, on the same web app as Twilio's: any of several processes can take them.

Telegram sends the ``secret_token`` given to ``setWebhook`` in ``X-Telegram-Bot-Api-Secret-Token``;
a request without it is someone else's and changes nothing.

Telegram sends an update again until it gets a 200 for it, and never after: so the update is stored
(see :mod:`messenger.bot.journal`) before the 200, and a failed store is a 500 for Telegram to retry.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update

from messenger.bot.journal import UpdateJournal
from messenger.web.forms import MAX_UPDATE_BYTES, read_limited

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def telegram_webhook_route(journal: UpdateJournal, secret: str) -> Route:
    """``POST /telegram/webhook``: a verified update is stored, then handed to the bot; the answer does not wait
    for the bot, only for the store."""

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning("rejected a Telegram webhook request: missing or wrong secret token")
            return Response("invalid secret token", status_code=403)
        raw = await read_limited(request, MAX_UPDATE_BYTES)
        if raw is None:
            return Response("request too large", status_code=413)
        try:
            data: Any = json.loads(raw)
            update = Update.de_json(data, journal.application.bot) if isinstance(data, dict) else None
        # python-telegram-bot trusts Telegram's shapes: a forged body fails with any kind of error.
        except Exception:
            update = None
        # The id is the row's key (a signed 64-bit integer); Telegram's are positive.
        if update is None or type(update.update_id) is not int or not 0 <= update.update_id < 2**63:
            return Response("not an update", status_code=400)
        try:
            first = await journal.receive(update, data)
        # The error's text may quote the update: its kind is enough here.
        except Exception as exc:
            log.error(
                "could not store Telegram update %d (%s); Telegram will send it again",
                update.update_id,
                type(exc).__name__,
            )
            return Response("not stored", status_code=500)
        if first:  # one sent again (our answer was lost) was handed over when it first came
            journal.hand_over(update)
        return Response(status_code=200)

    return Route(WEBHOOK_PATH, receive, methods=["POST"])
