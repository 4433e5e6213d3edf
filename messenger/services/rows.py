"""Rows that must exist: a foreign key points at them, so their absence is a broken database."""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

RowT = TypeVar("RowT", bound=SQLModel)


async def existing(session: AsyncSession, model: type[RowT], pk: int) -> RowT:
    """The row of ``model`` with id ``pk``; ``LookupError`` if a reference points at nothing."""
    row = await session.get(model, pk)
    if row is None:
        raise LookupError(f"{model.__name__} {pk} is referenced but does not exist")
    return row
