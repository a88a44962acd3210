"""keys: an intake rate of their own, when they were last used, their traffic; suppression search

Revision ID: 0018
Revises: 0017

Hand-written; what shared/db/tables/mail.py declares as api_keys.intake_rate and
api_keys.last_used_at (set by the console's keys page and ``mailpipe keys``,
written by authentication at most once a minute), the index a key's page reads
its traffic from (messages_key_created: the key's messages by day and state,
index-only) and the indexes on suppressions the console's search reads
(suppressions_prefix, suppressions_domain). Adding nullable columns rewrites
nothing; the indexes are built as the other migrations build theirs (not
CONCURRENTLY): writes to messages wait while it is built, about seconds per
million rows.
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("intake_rate", sa.Float(), nullable=True))
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True),
                                        nullable=True))
    op.create_index("messages_key_created", "messages", ["api_key_id", "created_at"],
                    postgresql_include=["state"])
    op.create_index("suppressions_prefix", "suppressions",
                    ["api_key_id", sa.text('(address COLLATE "C")')])
    op.create_index("suppressions_domain", "suppressions",
                    ["api_key_id", sa.func.split_part(sa.column("address"), "@", -1),
                     sa.text('(address COLLATE "C")')])


def downgrade() -> None:
    op.drop_index("suppressions_domain", table_name="suppressions")
    op.drop_index("suppressions_prefix", table_name="suppressions")
    op.drop_index("messages_key_created", table_name="messages")
    op.drop_column("api_keys", "last_used_at")
    op.drop_column("api_keys", "intake_rate")
