"""SMTP submission (issue 27): messages.source 'smtp'; a content carries the raw MIME

Revision ID: 0022
Revises: 0021

Hand-written; what shared/db/tables/mail.py declares as contents.raw_mime and
the messages.source check (shared.sources.MessageSource).

``contents.raw_mime`` holds a message submitted over SMTP as its client sent
it (every envelope recipient's row shares the one content, so the bytes are
stored once); NULL for every other content. Adding a nullable column
rewrites nothing. The source check is replaced by one that also takes
'smtp' (PostgreSQL checks the existing rows against it: a read of messages,
no rewrite). Idempotency of a resent submission uses idempotency_keys as it
is (shared.intake.submissions names the key).
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_BEFORE = "source IN ('api', 'biz', 'fureweb', 'campaign')"
_AFTER = "source IN ('api', 'biz', 'fureweb', 'campaign', 'smtp')"


def upgrade() -> None:
    op.add_column("contents", sa.Column("raw_mime", sa.LargeBinary(), nullable=True))
    op.drop_constraint("source_valid", "messages", type_="check")
    op.create_check_constraint("source_valid", "messages", _AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM messages WHERE source = 'smtp'")
    op.drop_constraint("source_valid", "messages", type_="check")
    op.create_check_constraint("source_valid", "messages", _BEFORE)
    op.drop_column("contents", "raw_mime")
