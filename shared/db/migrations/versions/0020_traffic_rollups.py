"""the dashboard's traffic rollups (per minute and hour, key and topic; per hour and key); messages_attention

Revision ID: 0020
Revises: 0019

Hand-written; what shared/db/tables/traffic.py declares (traffic_minutes,
traffic_hours and its index traffic_hours_topic, traffic_key_hours, written by
the recorder through shared/db/traffic.py) and the index shared/db/tables/mail.py declares
on messages as messages_attention (the unknown and failed rows an operator
must look at) and messages_queued_since (the oldest queued row, first).

The rollups are filled from what is stored, by the rules of
shared/db/traffic.py: a message's send at its sent_at, the first event of each
measure at its time (one pruned into event_tallies, whose time is gone, at
the message's send), a failed message at its last change; minutes for the
last two days only. One pass over messages and events: about 20 seconds per
million messages and three million events (bench/dashboard.py). Run it with
the recorder stopped: what an older recorder records afterwards is not counted.
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

MEASURES = ("sent", "delivered", "bounced", "hard_bounced", "complained", "opened", "clicked",
            "failed")

#: (moment, key, topic, measure) of everything stored, by the rules above.
FACTS = """
    CREATE TEMPORARY TABLE traffic_facts AS
    WITH marks AS (
        SELECT message_id, type AS measure, occurred_at AS at FROM events
         WHERE message_id IS NOT NULL
           AND (type IN ('delivered', 'bounced', 'complained')
                OR (type IN ('opened', 'clicked') AND NOT machine))
        UNION ALL
        SELECT message_id, 'hard_bounced', occurred_at FROM events
         WHERE message_id IS NOT NULL AND type = 'bounced' AND detail = 'hard'
        UNION ALL
        SELECT message_id, type, NULL FROM event_tallies
         WHERE type IN ('delivered', 'bounced', 'complained')
            OR (type IN ('opened', 'clicked') AND NOT machine)
        UNION ALL
        SELECT message_id, 'hard_bounced', NULL FROM event_tallies
         WHERE type = 'bounced' AND hard
    ), firsts AS (
        SELECT message_id, measure, min(at) AS at FROM marks GROUP BY message_id, measure
    )
    SELECT COALESCE(f.at, m.sent_at, m.created_at) AS at, m.api_key_id, m.topic_id, f.measure
      FROM firsts f JOIN messages m ON m.id = f.message_id
    UNION ALL
    SELECT sent_at, api_key_id, topic_id, 'sent' FROM messages WHERE sent_at IS NOT NULL
    UNION ALL
    SELECT updated_at, api_key_id, topic_id, 'failed' FROM messages WHERE state = 'failed'
"""


def _fill(table: str, seconds: int, where: str = "", topics: bool = True) -> str:
    keys = "api_key_id, topic_id" if topics else "api_key_id"
    sums = ", ".join(f"count(*) FILTER (WHERE measure = '{m}')" for m in MEASURES)
    return f"""
        INSERT INTO {table} (at, {keys}, {", ".join(MEASURES)})
        SELECT to_timestamp(floor(extract(epoch FROM at) / {seconds}) * {seconds}),
               {keys}, {sums}
          FROM traffic_facts {where} GROUP BY 1, {keys}
    """


def _rollup(name: str, topics: bool = True) -> None:
    keys = ["at", "api_key_id", "topic_id"] if topics else ["at", "api_key_id"]
    op.create_table(
        name,
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("api_key_id", sa.BigInteger(), nullable=False),
        *([sa.Column("topic_id", sa.Text(), nullable=False)] if topics else []),
        *(sa.Column(m, sa.BigInteger(), server_default="0", nullable=False) for m in MEASURES),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint(*keys),
    )


def upgrade() -> None:
    _rollup("traffic_minutes")
    _rollup("traffic_hours")
    _rollup("traffic_key_hours", topics=False)
    op.create_index("traffic_hours_topic", "traffic_hours", ["topic_id", "api_key_id", "at"])
    op.create_index("messages_attention", "messages", ["api_key_id", "state", "id"],
                    postgresql_where=sa.text("state IN ('failed', 'unknown')"))
    op.create_index("messages_queued_since", "messages", ["updated_at"],
                    postgresql_where=sa.text("state = 'queued'"))
    op.execute(FACTS)
    op.execute(_fill("traffic_hours", 3600))
    op.execute(_fill("traffic_key_hours", 3600, topics=False))
    op.execute(_fill("traffic_minutes", 60, "WHERE at >= now() - interval '2 days'"))
    op.execute("DROP TABLE traffic_facts")


def downgrade() -> None:
    op.drop_index("messages_queued_since", table_name="messages")
    op.drop_index("messages_attention", table_name="messages")
    op.drop_table("traffic_key_hours")
    op.drop_table("traffic_hours")
    op.drop_table("traffic_minutes")
