"""index of the events SNS delivered, newest first: when SES's feedback last arrived

Revision ID: 0021
Revises: 0020

Hand-written; the partial index shared/db/tables/mail.py declares on events as
events_from_sns, read by shared/db/feedback.py (the console's SES page): the
newest event that came through SNS is one step down this index, however many
tracking hits (which carry no SNS MessageId) were stored after it. Built as
the other migrations build theirs (not CONCURRENTLY): the recorder's writes
wait while it is built, about a second per million events.
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("events_from_sns", "events", ["id"],
                    postgresql_where=sa.text("sns_message_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("events_from_sns", table_name="events")
