"""display names kept beside the addresses they were given with

Revision ID: 0014
Revises: 0013

Hand-written; the columns shared/db/tables/mail.py declares as messages.to_name,
messages.extra_names, campaign_recipients.name and recipient_list_rows.name.
Nullable and without defaults: adding them rewrites no table.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("to_name", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("extra_names", postgresql.JSONB(), nullable=True))
    op.add_column("campaign_recipients", sa.Column("name", sa.Text(), nullable=True))
    op.add_column("recipient_list_rows", sa.Column("name", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("recipient_list_rows", "name")
    op.drop_column("campaign_recipients", "name")
    op.drop_column("messages", "extra_names")
    op.drop_column("messages", "to_name")
