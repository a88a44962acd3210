"""indexes for the console's message search: by address prefix and by domain

Revision ID: 0015
Revises: 0014

Hand-written; the indexes shared/db/tables/mail.py declares on messages as
messages_recipient_prefix and messages_recipient_domain, read by
shared/db/message_search.py. Built as the other migrations build theirs
(not CONCURRENTLY): writes to messages wait while they are built, about
seconds per million rows.
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    to_addr = sa.column("to_addr")
    op.create_index("messages_recipient_prefix", "messages",
                    ["api_key_id", sa.func.lower(to_addr).label("to_addr_lower"), "id"],
                    postgresql_ops={"to_addr_lower": "text_pattern_ops"})
    op.create_index("messages_recipient_domain", "messages",
                    ["api_key_id", sa.func.lower(sa.func.split_part(to_addr, "@", -1)), "id"])


def downgrade() -> None:
    op.drop_index("messages_recipient_domain", table_name="messages")
    op.drop_index("messages_recipient_prefix", table_name="messages")
