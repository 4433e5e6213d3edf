"""Telegram through python-telegram-bot: one message to one chat, PTB's errors mapped to outcomes."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
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

from messenger.channels.base import Failed, Outgoing, RetryLater, SendOutcome, Sent
from messenger.channels.failures import FailureCode
from messenger.content import Button, Capabilities, Flavour
from messenger.domain.enums import ChannelName

# Telegram answers these for a chat that no longer exists for the bot: try the next contact.
_DEAD_CHAT = ("chat not found", "user not found", "chat_id is empty", "peer_id_invalid")


def markup(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    """Telegram's inline keyboard for a message's button rows; None for a message without buttons."""
    if not rows:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in rows])


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
            return RetryLater(FailureCode.TELEGRAM_FLOOD, after=retry_after_seconds(exc))
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
