"""The reputation guard's state (migration 0025; shared.db.guard writes and reads it).

A *scope* is what the guard measures and may pause: a whole API key
(``topic_id = ''``; topics are never empty), one of its topics, or, for the
whole key only, its campaign or its transactional mail (``traffic``).
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.tables.metadata import metadata

#: What a scope's figures count: all of its mail, or a key's campaign or transactional mail.
TRAFFIC = ("all", "campaign", "transactional")
_TRAFFIC_VALID = "traffic IN ('all', 'campaign', 'transactional')"

#: Per scope, its last N sends as a decaying window: each send multiplies the three
#: counts by (1 - 1/N) before adding itself, so ``sent`` tends to N and the rates are
#: those of roughly the last N sends, kept in one row instead of a list of N sends.
#: ``level`` and ``figures`` are the guard's last verdict on the scope (ok, warn, pause:
#: past a pause level, paused or covered by a wider pause).
guard_windows = Table(
    "guard_windows",
    metadata,
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), primary_key=True),
    Column("topic_id", Text, primary_key=True),
    Column("traffic", Text, primary_key=True),
    Column("sent", Float, nullable=False, server_default=text("0")),
    Column("hard_bounced", Float, nullable=False, server_default=text("0")),
    Column("complained", Float, nullable=False, server_default=text("0")),
    Column("level", Text, nullable=False, server_default=text("'ok'")),
    Column("figures", JSONB),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(_TRAFFIC_VALID, name="guard_windows_traffic_valid"),
    CheckConstraint("level IN ('ok', 'warn', 'pause')", name="guard_windows_level_valid"),
    #: The dashboard's badges: the scopes past a warn level.
    Index("guard_windows_warned", "api_key_id", postgresql_where=text("level <> 'ok'")),
)

#: Per scope and hour (when the recorder counted it), for the last 24 hours' rates.
#: Hours older than a day and a bit are pruned with the dashboard's minutes.
guard_hours = Table(
    "guard_hours",
    metadata,
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), primary_key=True),
    Column("topic_id", Text, primary_key=True),
    Column("traffic", Text, primary_key=True),
    Column("at", DateTime(timezone=True), primary_key=True),
    Column("sent", Integer, nullable=False, server_default=text("0")),
    Column("hard_bounced", Integer, nullable=False, server_default=text("0")),
    Column("complained", Integer, nullable=False, server_default=text("0")),
    CheckConstraint(_TRAFFIC_VALID, name="guard_hours_traffic_valid"),
    Index("guard_hours_at", "at"),
)

#: Pauses, the truth of them: one row per pause, kept after its resume (the history).
#: A row with ``resumed_at`` NULL holds its scope's ``queued`` rows back from the
#: senders' claim (shared.db.claims: the check is in the claim's own statement).
guard_pauses = Table(
    "guard_pauses",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"),
           nullable=False),
    #: '' for the whole key (or its campaigns), else the topic paused.
    Column("topic_id", Text, nullable=False, server_default=text("''")),
    #: Only the key's campaign mail is held: its transactional mail flows.
    Column("campaigns_only", Boolean, nullable=False, server_default=text("false")),
    #: 'bounce' or 'complaint'.
    Column("reason", Text, nullable=False),
    #: The window that crossed and its figures: sent, hard_bounced, complained, rate, threshold.
    Column("figures", JSONB, nullable=False),
    Column("paused_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("resumed_at", DateTime(timezone=True)),
    #: Who resumed it, as the audit log names them.
    Column("resumed_by", Text),
    CheckConstraint("reason IN ('bounce', 'complaint')", name="guard_pauses_reason_valid"),
    CheckConstraint("NOT (campaigns_only AND topic_id <> '')", name="guard_pauses_scope_valid"),
    #: One pause in force per scope; the claim's check reads it by key.
    Index("guard_pauses_active", "api_key_id", "topic_id", "campaigns_only", unique=True,
          postgresql_where=text("resumed_at IS NULL")),
)
