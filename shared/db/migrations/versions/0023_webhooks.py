"""outbound webhooks (issue 28): webhook_endpoints, webhook_events (the outbox), webhook_deliveries; campaigns.completed_at

Revision ID: 0023
Revises: 0022

Hand-written; creates exactly shared/db/tables/webhooks.py, and the column
campaigns.completed_at shared/db/tables/mail.py declares (when
campaign.completed was decided: shared/db/outbox.py), filled for the campaigns
already completed so that none of them is announced again. The states and
reasons are spelled here as constants (shared/webhooks/events.py names them)
so that this migration keeps meaning what it meant when the enum moves on.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def _now():
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column("api_key_id", sa.BigInteger(), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.Text()), server_default="{}",
                  nullable=False),
        sa.Column("topics", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint("disabled_reason IN ('gone', 'failing', 'manual')",
                           name="webhook_disabled_reason_valid"),
    )
    op.create_index("webhook_endpoints_key", "webhook_endpoints", ["api_key_id"],
                    postgresql_where=sa.text("enabled"))
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column("api_key_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("topic_id", sa.Text(), nullable=True),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_index("webhook_events_key_occurred", "webhook_events",
                    ["api_key_id", "occurred_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column("endpoint_id", sa.BigInteger(),
                  sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker_id", sa.Text(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_response", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'delivering', 'delivered', 'failed')",
                           name="webhook_delivery_state_valid"),
    )
    op.create_index("webhook_deliveries_due", "webhook_deliveries",
                    ["endpoint_id", "due_at", "id"],
                    postgresql_where=sa.text("state IN ('pending', 'delivering')"))
    op.create_index("webhook_deliveries_endpoint", "webhook_deliveries", ["endpoint_id", "id"])
    op.create_index("webhook_deliveries_event", "webhook_deliveries", ["event_id"])
    op.create_index("webhook_events_message", "webhook_events", ["message_id"],
                    postgresql_where=sa.text("message_id IS NOT NULL"))
    op.add_column("campaigns",
                  sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        """
        UPDATE campaigns c SET completed_at = c.updated_at
         WHERE c.status = 'active' AND c.expanded = c.total
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id
                              AND m.state IN ('created', 'queued', 'sending'))
        """
    )


def downgrade() -> None:
    op.drop_column("campaigns", "completed_at")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhook_endpoints")
