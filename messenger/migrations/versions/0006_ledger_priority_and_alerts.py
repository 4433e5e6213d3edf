"""The ledger carries everything that leaves: a priority class per row, staff alerts as rows.

Message.priority (urgent → appointment → education, claimed in that order) with its
index; Message.staff_chat_id and Message.params for alerts to staff; Message.series_id
becomes optional, as an alert belongs to no series.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 03:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("staff_chat_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("params", sa.JSON(none_as_null=True), nullable=True))
        batch_op.alter_column("series_id", existing_type=sa.Integer(), nullable=True)
    # Rows written before this revision: education and the closing message are the lowest class.
    op.execute("UPDATE message SET priority = 2 WHERE kind IN ('education', 'completion')")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.alter_column("priority", existing_type=sa.SmallInteger(), server_default=None)
        batch_op.create_index("ix_message_claim", ["status", "priority", "due_at"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM message WHERE series_id IS NULL")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_claim")
        batch_op.alter_column("series_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("params")
        batch_op.drop_column("staff_chat_id")
        batch_op.drop_column("priority")
