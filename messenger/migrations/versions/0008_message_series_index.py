"""message: drop ix_message_series_id, whose work the unique (series_id, step_key) index does.

Every lookup of a series' messages is served by ``uq_message_series_step``, whose first
column is ``series_id``; the separate index only made each enrolment write one more index
entry per step.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:00:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_message_series_id", table_name="message")


def downgrade() -> None:
    op.create_index("ix_message_series_id", "message", ["series_id"])
