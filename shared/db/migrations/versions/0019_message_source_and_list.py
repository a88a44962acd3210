"""messages: the door each came in by (source); the indexes the console's message list reads

Revision ID: 0019
Revises: 0018

Hand-written; what shared/db/tables/mail.py declares as messages.source (with
its check) and the indexes messages_state_id, messages_topic_id and
messages_created_id, read by shared/db/message_list.py.

``source`` is added NOT NULL with a constant default ('api'), which rewrites
no table (PostgreSQL 11+ keeps the default in the catalog). Rows stored
before it are told apart by what only each door writes: a campaign's rows
carry campaign_id; the compat APIs' envelopes a Message-ID fixed at intake
(mime_message_id), under the topic their door gives them ('fureweb', else
'biz'). The indexes are built as the other migrations build theirs (not
CONCURRENTLY): writes to messages wait while they are built, about seconds
per million rows.
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("source", sa.Text(), server_default="api",
                                        nullable=False))
    op.execute("UPDATE messages SET source = 'campaign' WHERE campaign_id IS NOT NULL")
    op.execute("UPDATE messages SET source = CASE WHEN topic_id = 'fureweb' THEN 'fureweb' "
               "ELSE 'biz' END WHERE campaign_id IS NULL AND mime_message_id IS NOT NULL")
    op.create_check_constraint("source_valid", "messages",
                               "source IN ('api', 'biz', 'fureweb', 'campaign')")
    op.create_index("messages_state_id", "messages", ["state", "id"])
    op.create_index("messages_topic_id", "messages", ["topic_id", "id"])
    op.create_index("messages_created_id", "messages", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("messages_created_id", table_name="messages")
    op.drop_index("messages_topic_id", table_name="messages")
    op.drop_index("messages_state_id", table_name="messages")
    op.drop_constraint("source_valid", "messages", type_="check")
    op.drop_column("messages", "source")
