"""How Alembic compares the database with the models and writes new migration scripts.

Used by ``env.py`` (``messenger db revision``) and by :func:`messenger.migrations.schema_differences`,
so a check and a generated script always see the models the same way.

Our column types are ``TypeDecorator``\\ s (``messenger.domain.types.UTCDateTime``,
``StrEnumType(SomeEnum)``, sqlmodel's ``AutoString``). A generated script spells them as
the plain SQLAlchemy type they store (``sa.DateTime(timezone=True)``, ``sa.String(length=32)``,
``sa.String(length=200)``): the DDL is identical, and a migration script stays a frozen
record of the schema that keeps working when an enum or a type in the application code is
renamed, changed or removed later. Comparison is unaffected by the spelling: Alembic
compares the database's reflected columns with each decorator's underlying type.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate.api import AutogenContext
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render a ``TypeDecorator`` column type as the SQLAlchemy type it wraps."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return render_type(obj.impl_instance, autogen_context)
    return False  # Alembic's default rendering


def render_type(type_: TypeEngine[Any], autogen_context: AutogenContext) -> str | bool:
    if isinstance(type_, TypeDecorator):
        return render_type(type_.impl_instance, autogen_context)
    module = type(type_).__module__
    if module.startswith("sqlalchemy.") and not module.startswith("sqlalchemy.dialects"):
        return f"sa.{type_!r}"
    return False


def context_options(dialect_name: str) -> dict[str, Any]:
    """Options for ``context.configure`` / ``MigrationContext.configure`` on a dialect."""
    return {
        "target_metadata": SQLModel.metadata,
        "compare_type": True,
        # SQLite can't ALTER most things: generated scripts copy and swap the table.
        "render_as_batch": dialect_name == "sqlite",
        "render_item": render_item,
    }
