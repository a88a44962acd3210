"""a GIN index on the active keys' allowed domains, for CORS preflights

Revision ID: 0012
Revises: 0011

Hand-written; the index shared/db/tables/mail.py declares on api_keys.
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("api_keys_allowed_domains", "api_keys", ["allowed_domains"],
                    postgresql_using="gin", postgresql_where=sa.text("revoked_at IS NULL"))


def downgrade() -> None:
    op.drop_index("api_keys_allowed_domains", table_name="api_keys")
