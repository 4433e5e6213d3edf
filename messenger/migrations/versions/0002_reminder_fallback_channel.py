"""Message.only_channel: a reminder's fallback copy goes on one channel only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 06:19:11.333732

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("only_channel", sa.String(length=32), nullable=True))


def downgrade() -> None:
    # Fallback copies lose their channel restriction; they are never more than a reminder.
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("only_channel")
