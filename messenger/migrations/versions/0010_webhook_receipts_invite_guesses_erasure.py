"""Webhook receipts (replays change nothing), invite guesses (throttled in the database), Patient.erased_at.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 04:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhookreceipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "key", name="uq_webhook_receipt_source_key"),
    )
    op.create_index("ix_webhookreceipt_received_at", "webhookreceipt", ["received_at"])
    op.create_table(
        "inviteguess",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inviteguess_telegram_user_id", "inviteguess", ["telegram_user_id"])
    op.create_index("ix_inviteguess_at", "inviteguess", ["at"])
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
    op.drop_index("ix_inviteguess_at", table_name="inviteguess")
    op.drop_index("ix_inviteguess_telegram_user_id", table_name="inviteguess")
    op.drop_table("inviteguess")
    op.drop_index("ix_webhookreceipt_received_at", table_name="webhookreceipt")
    op.drop_table("webhookreceipt")
