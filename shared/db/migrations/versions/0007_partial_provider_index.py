"""messages_provider_id: only rows that have a provider id

Every new row used to add a NULL entry to this index, one more index
insert per recipient of a campaign expansion; lookups are always by a
provider id, never for NULL.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("messages_provider_id", table_name="messages")
    op.create_index("messages_provider_id", "messages", ["provider_message_id"],
                    postgresql_where=sa.text("provider_message_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("messages_provider_id", table_name="messages")
    op.create_index("messages_provider_id", "messages", ["provider_message_id"])
