"""reputation guard: per key and topic windows, hourly counts, pauses; per-key levels

Revision ID: 0025
Revises: 0024

Hand-written; what shared/db/tables/guard.py declares (guard_windows,
guard_hours, guard_pauses) and the api_keys columns shared/db/tables/mail.py
declares as guard_bounce_warn, guard_bounce_pause, guard_complaint_warn and
guard_complaint_pause. New tables and nullable columns: nothing is rewritten.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_TRAFFIC_VALID = "traffic IN ('all', 'campaign', 'transactional')"
_LEVELS = ("guard_bounce_warn", "guard_bounce_pause", "guard_complaint_warn",
           "guard_complaint_pause")


def upgrade() -> None:
    for name in _LEVELS:
        op.add_column("api_keys", sa.Column(name, sa.Float(), nullable=True))
    op.create_table(
        "guard_windows",
        sa.Column("api_key_id", sa.BigInteger(), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("topic_id", sa.Text(), nullable=False),
        sa.Column("traffic", sa.Text(), nullable=False),
        sa.Column("sent", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("hard_bounced", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("complained", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("level", sa.Text(), server_default=sa.text("'ok'"), nullable=False),
        sa.Column("figures", postgresql.JSONB(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint(_TRAFFIC_VALID, name="guard_windows_traffic_valid"),
        sa.CheckConstraint("level IN ('ok', 'warn', 'pause')", name="guard_windows_level_valid"),
        sa.PrimaryKeyConstraint("api_key_id", "topic_id", "traffic"),
    )
    op.create_index("guard_windows_warned", "guard_windows", ["api_key_id"],
                    postgresql_where=sa.text("level <> 'ok'"))
    op.create_table(
        "guard_hours",
        sa.Column("api_key_id", sa.BigInteger(), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("topic_id", sa.Text(), nullable=False),
        sa.Column("traffic", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("hard_bounced", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("complained", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(_TRAFFIC_VALID, name="guard_hours_traffic_valid"),
        sa.PrimaryKeyConstraint("api_key_id", "topic_id", "traffic", "at"),
    )
    op.create_index("guard_hours_at", "guard_hours", ["at"])
    op.create_table(
        "guard_pauses",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("api_key_id", sa.BigInteger(), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("topic_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("campaigns_only", sa.Boolean(), server_default=sa.text("false"),
                  nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("figures", postgresql.JSONB(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resumed_by", sa.Text(), nullable=True),
        sa.CheckConstraint("reason IN ('bounce', 'complaint')", name="guard_pauses_reason_valid"),
        sa.CheckConstraint("NOT (campaigns_only AND topic_id <> '')",
                           name="guard_pauses_scope_valid"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("guard_pauses_active", "guard_pauses",
                    ["api_key_id", "topic_id", "campaigns_only"], unique=True,
                    postgresql_where=sa.text("resumed_at IS NULL"))


def downgrade() -> None:
    op.drop_table("guard_pauses")
    op.drop_table("guard_hours")
    op.drop_table("guard_windows")
    for name in reversed(_LEVELS):
        op.drop_column("api_keys", name)
