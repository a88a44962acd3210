"""events, suppressions and tracking: suppression list, event detail, per-content flags

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("api_key_id", sa.BigInteger(), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("api_key_id", "address"),
        sa.CheckConstraint("reason IN ('bounce', 'complaint', 'unsubscribe', 'manual')",
                           name="suppression_reason_valid"),
    )
    op.add_column("events", sa.Column("detail", sa.Text(), nullable=True))
    op.add_column("events", sa.Column("machine", sa.Boolean(), server_default=sa.text("false"),
                                      nullable=False))
    op.create_index("events_orphans", "events", ["provider_message_id"],
                    postgresql_where=sa.text("message_id IS NULL"))
    op.add_column("contents", sa.Column("tracking", sa.Boolean(), server_default=sa.text("true"),
                                        nullable=False))
    op.add_column("contents", sa.Column("bulk", sa.Boolean(), server_default=sa.text("false"),
                                        nullable=False))


def downgrade() -> None:
    op.drop_column("contents", "bulk")
    op.drop_column("contents", "tracking")
    op.drop_index("events_orphans", table_name="events")
    op.drop_column("events", "machine")
    op.drop_column("events", "detail")
    op.drop_table("suppressions")
