"""Telegram through python-telegram-bot: one message to one chat, PTB's errors mapped to outcomes."""

from __future__ import annotations

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, LinkPreviewOptions, Message
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
from telegram.ext import ExtBot

from messenger.channels.base import Failed, Outgoing, RetryLater, SendOutcome, Sent
from messenger.channels.failures import FailureCode
from messenger.content import Button, Capabilities, Flavour
from messenger.domain.enums import ChannelName
from messenger.pacing.pacer import Pacer
from messenger.pacing.telegram import PacedRateLimiter, retry_after_seconds

# Telegram answers these for a chat that no longer exists for the bot: try the next contact.
_DEAD_CHAT = ("chat not found", "user not found", "chat_id is empty", "peer_id_invalid")


def markup(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    """Telegram's inline keyboard for a message's button rows; None for a message without buttons."""
    if not rows:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in rows])


class TelegramChannel:
    name = ChannelName.TELEGRAM
    capabilities = Capabilities(body=Flavour.TELEGRAM, max_length=4096, buttons=True)

    def __init__(self, bot: Bot, *, pacer: Pacer | None = None) -> None:
        self.bot = bot
        limiter = bot.rate_limiter if isinstance(bot, ExtBot) else None
        if pacer is None and isinstance(limiter, PacedRateLimiter):
            pacer = limiter.pacer
        self.pacer = pacer
        # The bot's own rate limiter already waits in (and pauses) this pacer for every request.
        paced_by_bot = isinstance(limiter, PacedRateLimiter) and limiter.pacer is pacer
        self._own_pacer = None if paced_by_bot else pacer

    async def send(self, outgoing: Outgoing) -> SendOutcome:
        if self._own_pacer is not None:
            await self._own_pacer.acquire(outgoing.address)
        try:
            sent = await self._deliver(outgoing)
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc)
            if self._own_pacer is not None:
                self._own_pacer.pause(seconds)
            return RetryLater(FailureCode.TELEGRAM_FLOOD, after=seconds, throttled=True)
        except Forbidden as exc:
            return Failed(FailureCode.TELEGRAM_BLOCKED, unreachable=True, detail=exc.message)
        except ChatMigrated:
            return Failed(FailureCode.TELEGRAM_CHAT_MIGRATED, unreachable=True)
        except BadRequest as exc:  # a subclass of NetworkError: check it first
            if any(marker in exc.message.lower() for marker in _DEAD_CHAT):
                return Failed(FailureCode.TELEGRAM_CHAT_NOT_FOUND, unreachable=True, detail=exc.message)
            return Failed(FailureCode.TELEGRAM_REJECTED, detail=exc.message)
        except NetworkError as exc:  # also TimedOut
            return RetryLater(FailureCode.TELEGRAM_NETWORK, params=(("error", type(exc).__name__),))
        except InvalidToken:
            return RetryLater(FailureCode.TELEGRAM_TOKEN)
        except TelegramError as exc:
            return Failed(FailureCode.TELEGRAM_ERROR, detail=exc.message)
        return Sent(provider_id=str(sent.message_id))

    async def _deliver(self, outgoing: Outgoing) -> Message:
        if outgoing.attachments:  # a file for staff (the end-of-course summary), its text as the caption
            name, content, _mime = outgoing.attachments[0]
            return await self.bot.send_document(
                chat_id=int(outgoing.address),
                document=InputFile(content, filename=name),
                caption=outgoing.content.body,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(outgoing.content.buttons),
            )
        return await self.bot.send_message(
            chat_id=int(outgoing.address),
            text=outgoing.content.body,
            parse_mode=ParseMode.HTML,
            reply_markup=markup(outgoing.content.buttons),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
