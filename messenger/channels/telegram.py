"""Telegram through python-telegram-bot: one message to one chat, PTB's errors mapped to outcomes."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from messenger.bot.keyboards import markup
from messenger.channels.base import Capabilities, Failed, Outgoing, RetryLater, SendOutcome, Sent
from messenger.domain.enums import ChannelName
from messenger.rendering.environment import Flavour

# Telegram answers these for a chat that no longer exists for the bot: try the next contact.
_DEAD_CHAT = ("chat not found", "user not found", "chat_id is empty", "peer_id_invalid")


def retry_after_seconds(error: RetryAfter) -> float:
    # PTB 22 returns an int and warns that a timedelta is coming (opt-in by PTB_TIMEDELTA); both work here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramChannel:
    name = ChannelName.TELEGRAM
    capabilities = Capabilities(body=Flavour.TELEGRAM, max_length=4096, buttons=True)

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, outgoing: Outgoing) -> SendOutcome:
        try:
            sent = await self.bot.send_message(
                chat_id=int(outgoing.address),
                text=outgoing.content.body,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(outgoing.content.buttons),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except RetryAfter as exc:
            return RetryLater("Telegram flood control", after=retry_after_seconds(exc), throttled=True)
        except Forbidden as exc:
            return Failed(f"Telegram refused: {exc.message}", unreachable=True)
        except ChatMigrated:
            return Failed("the chat moved to a supergroup", unreachable=True)
        except BadRequest as exc:  # a subclass of NetworkError: check it first
            dead = any(marker in exc.message.lower() for marker in _DEAD_CHAT)
            return Failed(f"Telegram rejected the message: {exc.message}", unreachable=dead)
        except NetworkError as exc:  # also TimedOut
            return RetryLater(f"Telegram unreachable: {type(exc).__name__}")
        except InvalidToken:
            return RetryLater("Telegram rejected the bot token")
        except TelegramError as exc:
            return Failed(f"Telegram error: {exc.message}")
        return Sent(provider_id=str(sent.message_id))
