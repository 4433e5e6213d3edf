"""PTB persistence in the project's database: an /enroll conversation survives a restart.

Only what the conversations need is kept: each conversation's state per (chat, user),
and each user's ``user_data`` (the answers given so far). ``bot_data``, ``chat_data``
and callback data are not used by the bot and are not stored. Values must be JSON
(they are: states are ints, answers are strings).

PTB hands changes over every ``update_interval`` seconds and when the bot stops, so a
crash (not a stop) loses at most that many seconds of answers.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, delete, select
from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import ConversationDict, ConversationKey

from messenger.clock import Clock
from messenger.db import SessionFactory, transaction
from messenger.domain.bookkeeping import BotState

__all__ = ["DatabasePersistence"]

USER_DATA = "user_data"


def _conversation(name: str) -> str:
    return f"conversation:{name}"


class DatabasePersistence(BasePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """Conversations and user data in the ``bot_state`` table."""

    def __init__(self, *, sessions: SessionFactory, clock: Clock, update_interval: float = 1.0) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, chat_data=False, user_data=True, callback_data=False),
            update_interval=update_interval,
        )
        self.sessions = sessions
        self.clock = clock

    # -- what PTB reads at start ------------------------------------------------------

    async def get_user_data(self) -> dict[int, dict[Any, Any]]:
        return {int(key): data for key, data in await self._load(USER_DATA)}

    async def get_conversations(self, name: str) -> ConversationDict:
        return {tuple(json.loads(key)): data["state"] for key, data in await self._load(_conversation(name))}

    async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
        return {}

    async def get_bot_data(self) -> dict[Any, Any]:
        return {}

    async def get_callback_data(self) -> None:
        return None

    # -- what PTB writes --------------------------------------------------------------

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        if data:
            await self._store(USER_DATA, str(user_id), data)
        else:
            await self._drop(USER_DATA, str(user_id))

    async def drop_user_data(self, user_id: int) -> None:
        await self._drop(USER_DATA, str(user_id))

    async def update_conversation(self, name: str, key: ConversationKey, new_state: object | None) -> None:
        row_key = json.dumps(list(key))
        if new_state is None:  # the conversation ended
            await self._drop(_conversation(name), row_key)
        else:
            await self._store(_conversation(name), row_key, {"state": new_state})

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        """Not stored."""

    async def update_bot_data(self, data: dict[Any, Any]) -> None:
        """Not stored."""

    async def update_callback_data(self, data: Any) -> None:
        """Not stored."""

    async def drop_chat_data(self, chat_id: int) -> None:
        """Not stored."""

    async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
        """Only this process writes user data: nothing to refresh."""

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[Any, Any]) -> None:
        """Not stored."""

    async def refresh_bot_data(self, bot_data: dict[Any, Any]) -> None:
        """Not stored."""

    async def flush(self) -> None:
        """Every write is committed at once: nothing to flush."""

    # -- the table --------------------------------------------------------------------

    async def _load(self, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        async with self.sessions() as session:
            rows = await session.exec(select(BotState).where(BotState.namespace == namespace))
            return [(row.key, row.data) for row in rows.all()]

    async def _store(self, namespace: str, key: str, data: dict[str, Any]) -> None:
        async with transaction(self.sessions) as session:
            row = await session.get(BotState, (namespace, key))
            if row is None:
                session.add(BotState(namespace=namespace, key=key, data=data, updated_at=self.clock.now()))
            else:
                row.data, row.updated_at = dict(data), self.clock.now()

    async def _drop(self, namespace: str, key: str) -> None:
        async with transaction(self.sessions) as session:
            await session.exec(delete(BotState).where(col(BotState.namespace) == namespace, col(BotState.key) == key))
