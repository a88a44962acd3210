"""attachments, tenant SMTP relays, multi-recipient messages, extra headers

Revision ID: 0004
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachment_blobs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    op.create_table(
        "content_attachments",
        sa.Column("content_id", sa.BigInteger(), sa.ForeignKey("contents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.BigInteger(), sa.ForeignKey("attachment_blobs.id"), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("content_ref", sa.Text(), nullable=True),
        sa.Column("inline", sa.Boolean(), server_default="false", nullable=False),
        sa.PrimaryKeyConstraint("content_id", "position"),
    )
    op.create_table(
        "smtp_relays",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("api_key_id", sa.BigInteger(), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("api_key_id", "url", "username", name="smtp_relays_identity"),
    )
    op.add_column("contents", sa.Column("headers", postgresql.JSONB(), nullable=True))
    for name in ("extra_to_addrs", "cc_addrs", "bcc_addrs"):
        op.add_column("messages", sa.Column(name, postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False))
    op.add_column("messages", sa.Column("mime_message_id", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("smtp_relay_id", sa.BigInteger(), sa.ForeignKey("smtp_relays.id"), nullable=True))


def downgrade() -> None:
    for name in ("smtp_relay_id", "mime_message_id", "bcc_addrs", "cc_addrs", "extra_to_addrs"):
        op.drop_column("messages", name)
    op.drop_column("contents", "headers")
    op.drop_table("smtp_relays")
    op.drop_table("content_attachments")
    op.drop_table("attachment_blobs")
