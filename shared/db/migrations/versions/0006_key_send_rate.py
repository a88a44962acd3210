"""merge the feature branches; per-key send rate cap

Revision ID: 0006
Revises: 0003, 0004, 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = ("0003", "0004", "0005")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("max_send_rate", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "max_send_rate")
