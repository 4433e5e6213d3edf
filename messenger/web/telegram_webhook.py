"""Telegram updates by webhook, on the same web app as Twilio's: any of several processes can take them.

Telegram sends the ``secret_token`` given to ``setWebhook`` in ``X-Telegram-Bot-Api-Secret-Token``;
a request without it is someone else's and changes nothing.
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
from telegram.ext import Application

from messenger.web.forms import MAX_UPDATE_BYTES, read_limited

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def telegram_webhook_route(application: Application, secret: str) -> Route:  # type: ignore[type-arg]
    """``POST /telegram/webhook``: a verified update goes to the bot's queue; the answer does not wait for it."""

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
            update = Update.de_json(data, application.bot) if isinstance(data, dict) else None
        # python-telegram-bot trusts Telegram's shapes: a forged body fails with any kind of error.
        except Exception:
            update = None
        if update is None:
            return Response("not an update", status_code=400)
        await application.update_queue.put(update)
        return Response(status_code=200)

    return Route(WEBHOOK_PATH, receive, methods=["POST"])
