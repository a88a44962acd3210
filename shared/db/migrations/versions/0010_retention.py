"""Retention: what pruning needs to find expired rows cheaply and keep stats right

- ``event_tallies``: per message, the events pruned so far, counted by type
  (and whether a bounce was hard, whether a hit was a machine's), so topic
  figures are the same before and after events are deleted.
- ``contents.pruned_at``: set when retention dropped a content's parts
  (subject, html, text, headers, reply-to, attachments); the row stays,
  because messages refer to it.
- Range indexes on the ages pruning goes by (events, unpruned contents,
  attachment blobs), so each batch reads only expired rows.
- ``messages_content_pending``: the unsent messages of a content (small: only
  rows created, queued or sending), so pruning a content can prove none is left.
- ``content_attachments_blob``: whether a blob is still linked anywhere.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_tallies",
        sa.Column("message_id", sa.BigInteger, sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("hard", sa.Boolean, nullable=False),
        sa.Column("machine", sa.Boolean, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("message_id", "type", "hard", "machine"),
    )
    op.add_column("contents", sa.Column("pruned_at", sa.DateTime(timezone=True)))
    op.create_index("contents_unpruned_created", "contents", ["created_at"],
                    postgresql_where=sa.text("pruned_at IS NULL"))
    op.create_index("events_occurred", "events", ["occurred_at"])
    op.create_index("attachment_blobs_created", "attachment_blobs", ["created_at"])
    op.create_index("content_attachments_blob", "content_attachments", ["blob_id"])
    op.create_index("messages_content_pending", "messages", ["content_id"],
                    postgresql_where=sa.text("state IN ('created', 'queued', 'sending')"))


def downgrade() -> None:
    op.drop_index("messages_content_pending", table_name="messages")
    op.drop_index("content_attachments_blob", table_name="content_attachments")
    op.drop_index("attachment_blobs_created", table_name="attachment_blobs")
    op.drop_index("events_occurred", table_name="events")
    op.drop_index("contents_unpruned_created", table_name="contents")
    op.drop_column("contents", "pruned_at")
    op.drop_table("event_tallies")
