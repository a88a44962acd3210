"""keys: an intake rate of their own and when they were last used; suppression search

Revision ID: 0018
Revises: 0017

Hand-written; what shared/db/tables/mail.py declares as api_keys.intake_rate and
api_keys.last_used_at (set by the console's keys page and ``mailpipe keys``,
written by authentication at most once a minute), and the indexes on
suppressions the console's search reads (suppressions_prefix,
suppressions_domain). Adding nullable columns rewrites nothing; the indexes
are built as the other migrations build theirs (not CONCURRENTLY).
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
    op.create_index("suppressions_prefix", "suppressions",
                    ["api_key_id", sa.text('(address COLLATE "C")')])
    op.create_index("suppressions_domain", "suppressions",
                    ["api_key_id", sa.func.split_part(sa.column("address"), "@", -1),
                     sa.text('(address COLLATE "C")')])


def downgrade() -> None:
    op.drop_index("suppressions_domain", table_name="suppressions")
    op.drop_index("suppressions_prefix", table_name="suppressions")
    op.drop_column("api_keys", "last_used_at")
    op.drop_column("api_keys", "intake_rate")
