"""The traffic rollups the console's dashboard reads (migration 0020, ``shared.db.traffic``).

Counts per (minute or hour, API key[, topic]) of what happened to messages:
sends, first deliveries, bounces, complaints, human opens and clicks, and
failures. The recorder adds to them in the transactions that record the
outcomes and events, so a figure over a window is a sum over a few
thousand rows, however many messages and events there are.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Table, Text

from shared.db.tables.metadata import metadata

#: The measures, in the order of their columns (``shared.db.traffic.MEASURES``).
MEASURES = ("sent", "delivered", "bounced", "hard_bounced", "complained", "opened", "clicked",
            "failed")


def _rollup(name: str, *indexes: Index, topics: bool = True) -> Table:
    return Table(
        name,
        metadata,
        #: The start of the minute or hour (UTC).
        Column("at", DateTime(timezone=True), primary_key=True),
        Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), primary_key=True),
        *([Column("topic_id", Text, primary_key=True)] if topics else []),
        *(Column(measure, BigInteger, nullable=False, server_default="0")
          for measure in MEASURES),
        *indexes,
    )


#: Per minute, key and topic, for the last hour; rows older than two days are pruned.
traffic_minutes = _rollup("traffic_minutes")

#: Per hour, key and topic, kept: a topic's day, week and 30 days, and the topics.
traffic_hours = _rollup(
    "traffic_hours",
    #: One topic's hours, of one key or of every key.
    Index("traffic_hours_topic", "topic_id", "api_key_id", "at"),
)

#: Per hour and key, every topic together, kept: what the dashboard shows unless it
#: is asked for one topic. A few rows an hour however many topics there are.
traffic_key_hours = _rollup("traffic_key_hours", topics=False)
