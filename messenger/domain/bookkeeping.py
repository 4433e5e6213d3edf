"""Rows the running system keeps for itself: the bot's conversation state, processes' heartbeats,
provider pauses, webhook receipts, refused invite guesses, and Telegram updates received by webhook
(what they say, which may quote a patient, only until they are handled)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from messenger.domain.models import Persisted
from messenger.domain.types import UTCDateTime


class BotState(SQLModel, table=True):
    """What the Telegram bot keeps between updates (an /enroll conversation's step and answers),
    so a restart in the middle of a conversation loses nothing."""

    __tablename__ = "bot_state"

    # "user_data", or "conversation:<name>".
    namespace: str = Field(primary_key=True, max_length=64)
    # A Telegram user id, or a conversation's key (chat and user ids) as a JSON list.
    key: str = Field(primary_key=True, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    updated_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)


class Worker(SQLModel, table=True):
    """A running process's heartbeat: its claims return to the queue soon after it stops beating."""

    name: str = Field(primary_key=True, max_length=100)
    started_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    beat_at: datetime = Field(sa_type=UTCDateTime(), nullable=False, index=True)


class ProviderPause(SQLModel, table=True):
    """A provider account told to slow down (Telegram's 429): every process waits until ``until``."""

    # "telegram:<bot id>" or "twilio:<sender>" as a digest: no token or number in the table.
    account: str = Field(primary_key=True, max_length=100)
    until: datetime = Field(sa_type=UTCDateTime(), nullable=False)


class WebhookReceipt(SQLModel, Persisted, table=True):
    """A provider request already acted on: a replayed or retried one changes nothing twice."""

    __table_args__ = (UniqueConstraint("source", "key", name="uq_webhook_receipt_source_key"),)

    id: int | None = Field(default=None, primary_key=True)
    # "twilio.inbound" or "twilio.status".
    source: str = Field(max_length=32)
    # The provider's id of what it reported (a message SID, with the status for a callback).
    key: str = Field(max_length=200)
    received_at: datetime = Field(sa_type=UTCDateTime(), nullable=False, index=True)


class InviteGuess(SQLModel, Persisted, table=True):
    """A refused invite code: counted per Telegram user and overall, in the database every process shares."""

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    at: datetime = Field(sa_type=UTCDateTime(), nullable=False, index=True)


class ReceivedUpdate(SQLModel, table=True):
    """A Telegram update received by webhook, kept from before Telegram is answered until the bot has
    handled it, so a process that dies in between loses nothing: another one handles it."""

    __tablename__ = "telegram_update"

    # Telegram's own id: an update sent again (its answer was lost) is stored and handled once.
    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # The update as Telegram sent it; None once handled (it may quote a patient) or erased.
    payload: dict[str, Any] | None = Field(default=None, sa_type=JSON(none_as_null=True))
    # Whose chat it came from, so erasing a patient reaches an update not handled yet; None once handled.
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    received_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    # The process handling it (a ``worker`` name); taken over when that process stops beating.
    held_by: str = Field(max_length=100)
    # How many processes began handling it: one that keeps dying with it is given up.
    attempts: int = 1
    handled_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True, index=True)
