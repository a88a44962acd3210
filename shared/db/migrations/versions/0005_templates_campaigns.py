"""templates, template versions, campaigns and their recipients

Revision ID: 0005
Revises: 0002

Hand-written; creates exactly the template and campaign tables of
shared/db/tables.py and the template and campaign columns of contents and
messages.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def _now():
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("id", sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column("api_key_id", sa.BigInteger(), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("templates_name", "templates", ["api_key_id", "name"], unique=True,
                    postgresql_where=sa.text("deleted_at IS NULL"))
    op.create_table(
        "template_versions",
        sa.Column("template_id", sa.BigInteger(), sa.ForeignKey("templates.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("variables", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("template_id", "version"),
    )
    op.add_column("contents", sa.Column("template_id", sa.BigInteger(), nullable=True))
    op.add_column("contents", sa.Column("template_version", sa.Integer(), nullable=True))
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger(), autoincrement=True, primary_key=True),
        sa.Column("api_key_id", sa.BigInteger(), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("topic_id", sa.Text(), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("content_id", sa.BigInteger(), sa.ForeignKey("contents.id"), nullable=False),
        sa.Column("from_addr", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), server_default=_now(),
                  nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), server_default="0", nullable=False),
        sa.Column("expanded", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.ForeignKeyConstraint(["template_id", "template_version"],
                                ["template_versions.template_id", "template_versions.version"]),
        sa.CheckConstraint("status IN ('active', 'paused', 'cancelled')",
                           name="campaign_status_valid"),
    )
    op.create_index("campaigns_to_expand", "campaigns", ["scheduled_at"],
                    postgresql_where=sa.text("status = 'active' AND expanded < total"))
    op.create_table(
        "campaign_recipients",
        sa.Column("campaign_id", sa.BigInteger(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("variables", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "seq"),
    )
    op.add_column("messages", sa.Column("campaign_id", sa.BigInteger(), nullable=True))
    op.add_column("messages", sa.Column("variables", postgresql.JSONB(), nullable=True))
    # COLLATE "C": byte comparisons, whatever the database's locale; equality is the same.
    op.create_index("messages_campaign_recipient", "messages",
                    ["campaign_id", sa.text('(to_addr COLLATE "C")')],
                    unique=True, postgresql_where=sa.text("campaign_id IS NOT NULL"))
    op.create_index("messages_campaign_unsent", "messages", ["campaign_id"],
                    postgresql_where=sa.text(
                        "campaign_id IS NOT NULL AND state IN ('created', 'queued')"))


def downgrade() -> None:
    op.drop_index("messages_campaign_unsent", table_name="messages")
    op.drop_index("messages_campaign_recipient", table_name="messages")
    op.drop_column("messages", "variables")
    op.drop_column("messages", "campaign_id")
    op.drop_table("campaign_recipients")
    op.drop_table("campaigns")
    op.drop_column("contents", "template_version")
    op.drop_column("contents", "template_id")
    op.drop_table("template_versions")
    op.drop_table("templates")
