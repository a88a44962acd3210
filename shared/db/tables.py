"""Table definitions (SQLAlchemy Core). The migrations create exactly these."""

from __future__ import annotations

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
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

#: Every state a message row can be in (see DESIGN.md, "Message states").
STATES = (
    "created", "queued", "sending", "sent", "delivered", "bounced", "complained",
    "failed", "unknown", "cancelled", "suppressed",
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    #: sha256 of the key; the key itself is shown once and never stored.
    Column("key_hash", Text, nullable=False, unique=True),
    Column("key_prefix", Text, nullable=False),
    Column("allowed_domains", ARRAY(Text), nullable=False, server_default="{}"),
    #: Optional recipients/s cap for this key's sends, inside the fleet's rate.
    Column("max_send_rate", Float),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
)

contents = Table(
    "contents",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), nullable=False),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text),
    Column("reply_to", Text),
    #: Set when the parts are a template version's source (``{{variables}}``),
    #: rendered per recipient at send time (tables_campaigns.py).
    Column("template_id", BigInteger),
    Column("template_version", Integer),
    #: Extra header lines ``[[name, value], ...]`` (In-Reply-To, References, custom).
    Column("headers", JSONB),
    #: Open pixel and click rewriting (migration 0003); off per request.
    Column("tracking", Boolean, nullable=False, server_default=text("true")),
    #: Bulk mail (campaigns, or flagged): carries RFC 8058 List-Unsubscribe.
    Column("bulk", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: Set when retention dropped the parts (shared/db/retention.py); the row stays.
    Column("pruned_at", DateTime(timezone=True)),
    Index("contents_unpruned_created", "created_at", postgresql_where=text("pruned_at IS NULL")),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    # References to api_keys and contents, checked once per INSERT statement
    # by a trigger rather than per row by foreign keys (migration 0008).
    Column("api_key_id", BigInteger, nullable=False),
    Column("content_id", BigInteger, nullable=False),
    Column("topic_id", Text, nullable=False),
    Column("from_addr", Text, nullable=False),
    Column("to_addr", Text, nullable=False),
    Column("state", Text, nullable=False, server_default="created"),
    Column("scheduled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: When the scheduler should next (re)enqueue the row: the scheduled time
    #: for ``created``; for ``queued``, when it is presumed lost in Redis or
    #: when its retry backoff ends.
    Column("due_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_until", DateTime(timezone=True)),
    Column("worker_id", Text),
    Column("provider_message_id", Text),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    #: The campaign that expanded into this row (campaigns.id), if any.
    Column("campaign_id", BigInteger),
    #: Per-recipient template values ``{name: text}``; NULL for untemplated content.
    Column("variables", JSONB),
    #: One message may go to several people in one send (the compat APIs):
    #: To beyond ``to_addr``, Cc (in the headers) and Bcc (envelope only).
    Column("extra_to_addrs", ARRAY(Text), nullable=False, server_default="{}"),
    Column("cc_addrs", ARRAY(Text), nullable=False, server_default="{}"),
    Column("bcc_addrs", ARRAY(Text), nullable=False, server_default="{}"),
    #: The Message-ID header, when fixed at intake (the Biz API returns it).
    Column("mime_message_id", Text),
    #: Send through this tenant SMTP relay (smtp_relays.id, tables_compat.py)
    #: instead of the configured transport.
    Column("smtp_relay_id", BigInteger),
    CheckConstraint("state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")", name="state_valid"),
    # The dispatch query: due rows waiting for the scheduler.
    Index("messages_due", "due_at", postgresql_where=text("state IN ('created', 'queued')")),
    # Lease sweep.
    Index("messages_lease", "lease_until", postgresql_where=text("state = 'sending'")),
    Index("messages_topic", "api_key_id", "topic_id", "state"),
    Index(
        "messages_sent_at", "api_key_id", "sent_at", postgresql_where=text("sent_at IS NOT NULL")
    ),
    Index("messages_provider_id", "provider_message_id",
          postgresql_where=text("provider_message_id IS NOT NULL")),
    #: Never two rows for one recipient of one campaign: expansion inserts
    #: ON CONFLICT DO NOTHING against this (tables_campaigns.py).
    Index("messages_campaign_recipient", "campaign_id", text('(to_addr COLLATE "C")'),
          unique=True, postgresql_where=text("campaign_id IS NOT NULL")),
    #: A campaign's unsent rows: expansion's window, pause, resume and cancel.
    Index("messages_campaign_unsent", "campaign_id",
          postgresql_where=text("campaign_id IS NOT NULL AND state IN ('created', 'queued')")),
    #: A content's unsent rows: retention keeps the parts while there is one.
    Index("messages_content_pending", "content_id",
          postgresql_where=text("state IN ('created', 'queued', 'sending')")),
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("message_id", BigInteger, ForeignKey("messages.id")),
    Column("type", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("provider_message_id", Text),
    #: SNS MessageId: the same notification delivered twice is stored once.
    Column("sns_message_id", Text, unique=True),
    Column("payload", JSONB),
    #: Bounce kind (hard/soft), clicked URL, reject reason (migration 0003).
    Column("detail", Text),
    #: A prefetcher or link scanner, not a person: left out of open/click stats.
    Column("machine", Boolean, nullable=False, server_default=text("false")),
    Index("events_message", "message_id", "type"),
    #: Events that arrived before their message's provider id was recorded.
    Index("events_orphans", "provider_message_id", postgresql_where=text("message_id IS NULL")),
    #: Retention's range scan over expired events.
    Index("events_occurred", "occurred_at"),
)

#: Events retention deleted, counted per message so topic figures stay right.
event_tallies = Table(
    "event_tallies",
    metadata,
    Column("message_id", BigInteger, ForeignKey("messages.id"), primary_key=True),
    Column("type", Text, primary_key=True),
    #: A bounce whose detail was ``hard``.
    Column("hard", Boolean, primary_key=True),
    Column("machine", Boolean, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

#: Answers to POST /v1/messages and /v1/campaigns remembered by Idempotency-Key for 24 hours.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_hash", Text, nullable=False),
    #: NULL while the first request is still being served.
    Column("status", Integer),
    Column("response", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("idempotency_keys_created", "created_at"),
)
