"""The patient's conversation, staff alerts with acknowledgement (copies are ledger rows), check-in follow-up.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 04:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("media", sa.String(length=32), nullable=True),
        sa.Column("file_id", sa.String(length=200), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("staff_user_id", sa.BigInteger(), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_conversation_entry_patient_at", "conversation_entry", ["patient_id", "at"])

    op.create_table(
        "staff_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.BigInteger(), nullable=True),
        sa.Column("acknowledged_name", sa.String(length=200), nullable=True),
        sa.Column("renotified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_staff_alert_patient_id", "staff_alert", ["patient_id"])

    op.add_column("message", sa.Column("alert_id", sa.Integer(), nullable=True))
    has_alert = sa.text("alert_id IS NOT NULL")
    op.create_index("ix_message_alert_id", "message", ["alert_id"], sqlite_where=has_alert, postgresql_where=has_alert)

    op.create_table(
        "checkin_followup",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"]),
        sa.PrimaryKeyConstraint("message_id"),
    )


def downgrade() -> None:
    op.drop_table("checkin_followup")
    op.drop_index("ix_message_alert_id", table_name="message")
    op.drop_column("message", "alert_id")
    op.drop_index("ix_staff_alert_patient_id", table_name="staff_alert")
    op.drop_table("staff_alert")
    op.drop_index("ix_conversation_entry_patient_at", table_name="conversation_entry")
    op.drop_table("conversation_entry")
