"""SES setup: a configuration set per API key; the cursor of the account suppression import

Revision ID: 0024
Revises: 0023

Hand-written; what shared/db/tables/mail.py declares as api_keys.ses_configuration_set
(the SES configuration set a key's sends name instead of MAILPIPE_SES_CONFIGURATION_SET;
NULL: the setting's) and import_cursors (how far an outside list has been read: the
scheduler's import of SES's account-level suppression list keeps its LastUpdateTime
there). A nullable column rewrites nothing.
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("ses_configuration_set", sa.Text(), nullable=True))
    op.create_table(
        "import_cursors",
        sa.Column("source", sa.Text(), primary_key=True),
        sa.Column("read_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("import_cursors")
    op.drop_column("api_keys", "ses_configuration_set")
