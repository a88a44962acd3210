"""SES configuration set per key, account suppression import (issue 29): reserved in the chain, filled by the work on that issue

Revision ID: 0024
Revises: 0023
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
