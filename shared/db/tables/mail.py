"""The tables of sending mail (SQLAlchemy Core), on the package's one ``metadata``.

By concept: keys (and what a key owns: remembered answers, SMTP relays);
contents and their attachments; messages; events and the suppression list;
templates and campaigns.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    column,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from shared.db.tables.metadata import metadata
from shared.sources import MessageSource
from shared.states import PENDING, UNCLAIMED, CampaignStatus, sql_list
from shared.states import MessageState as S

# --- keys and what a key owns ----------------------------------------------------------

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
    #: Optional API requests/s for this key instead of MAILPIPE_INTAKE_RATE (migration 0018).
    Column("intake_rate", Float),
    #: The SES configuration set this key's sends name instead of
    #: MAILPIPE_SES_CONFIGURATION_SET (migration 0024); NULL: the setting's.
    Column("ses_configuration_set", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
    #: When a request last authenticated with the key, written at most once a minute
    #: (``shared.db.keys.note_use``, migration 0018).
    Column("last_used_at", DateTime(timezone=True)),
    #: The reputation guard's levels for this key instead of MAILPIPE_GUARD_* (migration
    #: 0025): hard-bounce and complaint rates that warn and that pause; NULL: the setting.
    Column("guard_bounce_warn", Float),
    Column("guard_bounce_pause", Float),
    Column("guard_complaint_warn", Float),
    Column("guard_complaint_pause", Float),
    #: A CORS preflight asks whether any active key names an origin's domain (``&&``).
    Index("api_keys_allowed_domains", "allowed_domains", postgresql_using="gin",
          postgresql_where=text("revoked_at IS NULL")),
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

#: A tenant's own SMTP server. The password is encrypted with a key derived
#: from MAILPIPE_SECRET_KEY (``shared.secrets``) and never leaves the sender.
smtp_relays = Table(
    "smtp_relays",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), nullable=False),
    #: Normalised: smtps://host:port, or smtp://host:port?tls=required|optional|none.
    Column("url", Text, nullable=False),
    Column("username", Text, nullable=False),
    Column("password_encrypted", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("api_key_id", "url", "username", name="smtp_relays_identity"),
)

# --- contents and their attachments ----------------------------------------------------

#: What is sent, shared by every message (recipient) of one request item or campaign.
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
    #: rendered per recipient at send time (see ``templates`` below).
    Column("template_id", BigInteger),
    Column("template_version", Integer),
    #: Extra header lines ``[[name, value], ...]`` (In-Reply-To, References, custom).
    Column("headers", JSONB),
    #: Open pixel and click rewriting (migration 0003); off per request.
    Column("tracking", Boolean, nullable=False, server_default=text("true")),
    #: Bulk mail (campaigns, or flagged): carries RFC 8058 List-Unsubscribe.
    Column("bulk", Boolean, nullable=False, server_default=text("false")),
    #: A message submitted over SMTP, as its client sent it (migration 0022): what is
    #: sent (shared.rendering.submitted); subject, html and text then only describe it.
    Column("raw_mime", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: Set when retention dropped the parts (shared/db/retention.py); the row stays.
    Column("pruned_at", DateTime(timezone=True)),
    Index("contents_unpruned_created", "created_at", postgresql_where=text("pruned_at IS NULL")),
)

#: Attachment bytes, stored once per distinct content (sha256), however many
#: messages and recipients carry them.
attachment_blobs = Table(
    "attachment_blobs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("sha256", Text, nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("attachment_blobs_created", "created_at"),
)

#: Which blobs a content carries, in order, under which name and type.
content_attachments = Table(
    "content_attachments",
    metadata,
    Column("content_id", BigInteger, ForeignKey("contents.id", ondelete="CASCADE"),
           primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("blob_id", BigInteger, ForeignKey("attachment_blobs.id"), nullable=False),
    Column("filename", Text, nullable=False),
    Column("content_type", Text, nullable=False),
    #: Set for an inline part the HTML refers to as ``cid:<content_ref>``.
    Column("content_ref", Text),
    Column("inline", Boolean, nullable=False, server_default="false"),
    Index("content_attachments_blob", "blob_id"),
)

# --- messages --------------------------------------------------------------------------

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
    #: The display name ``to_addr`` was given with (migration 0014); None: none.
    #: Only shown and written in the To header: matching goes by the address.
    Column("to_name", Text),
    Column("state", Text, nullable=False, server_default=S.CREATED.value),
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
    #: Display names of further To and Cc ``{lower-cased address: name}`` (migration 0014).
    Column("extra_names", JSONB),
    #: The Message-ID header, when fixed at intake (the Biz API returns it).
    Column("mime_message_id", Text),
    #: Send through this tenant SMTP relay instead of the configured transport.
    Column("smtp_relay_id", BigInteger, ForeignKey("smtp_relays.id")),
    #: The door the message came in by (migration 0019; shared.sources).
    Column("source", Text, nullable=False, server_default=MessageSource.API.value),
    CheckConstraint(f"state IN ({sql_list(set(S))})", name="state_valid"),
    CheckConstraint(f"source IN ({sql_list(set(MessageSource))})", name="source_valid"),
    # The dispatch query: due rows waiting for the scheduler.
    Index("messages_due", "due_at", postgresql_where=text(f"state IN ({sql_list(UNCLAIMED)})")),
    # Lease sweep.
    Index("messages_lease", "lease_until", postgresql_where=text(f"state = '{S.SENDING}'")),
    Index("messages_topic", "api_key_id", "topic_id", "state"),
    Index(
        "messages_sent_at", "api_key_id", "sent_at", postgresql_where=text("sent_at IS NOT NULL")
    ),
    Index("messages_provider_id", "provider_message_id",
          postgresql_where=text("provider_message_id IS NOT NULL")),
    #: Never two rows for one recipient of one campaign: expansion inserts
    #: ON CONFLICT DO NOTHING against this.
    Index("messages_campaign_recipient", "campaign_id", text('(to_addr COLLATE "C")'),
          unique=True, postgresql_where=text("campaign_id IS NOT NULL")),
    #: A campaign's unsent rows: expansion's window, pause, resume and cancel.
    Index("messages_campaign_unsent", "campaign_id",
          postgresql_where=text(f"campaign_id IS NOT NULL AND state IN ({sql_list(UNCLAIMED)})")),
    #: A content's unsent rows: retention keeps the parts while there is one.
    Index("messages_content_pending", "content_id",
          postgresql_where=text(f"state IN ({sql_list(PENDING)})")),
    #: The console's search (shared/db/message_search.py, migration 0015): an
    #: address prefix is a range of the first (text_pattern_ops: whatever the
    #: collation), a domain one key of the second; ``id`` last, so the newest
    #: matches of an address or a domain are read first and the scan stops.
    Index("messages_recipient_prefix", "api_key_id",
          func.lower(column("to_addr")).label("to_addr_lower"), "id",
          postgresql_ops={"to_addr_lower": "text_pattern_ops"}),
    Index("messages_recipient_domain", "api_key_id",
          func.lower(func.split_part(column("to_addr"), "@", -1)), "id"),
    #: Rows an operator must look at: the dashboard counts them per key, index-only,
    #: whatever the size of the table (migration 0020).
    Index("messages_attention", "api_key_id", "state", "id",
          postgresql_where=text(f"state IN ({sql_list({S.UNKNOWN, S.FAILED})})")),
    #: How long the longest-waiting queued row has waited (dashboard, metrics): its
    #: first entry, however long the backlog (migration 0020).
    Index("messages_queued_since", "updated_at", postgresql_where=text(f"state = '{S.QUEUED}'")),
    #: The console's message list (shared/db/message_list.py, migration 0019), newest
    #: first by id: the newest of a state (unknown, failed…) or of a topic however old,
    #: and a time window's first and last ids.
    Index("messages_state_id", "state", "id"),
    Index("messages_topic_id", "topic_id", "id"),
    Index("messages_created_id", "created_at", "id"),
)

# --- events and the suppression list ---------------------------------------------------

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
    #: The newest event SNS delivered, one step away (shared/db/feedback.py, migration 0021).
    Index("events_from_sns", "id", postgresql_where=text("sns_message_id IS NOT NULL")),
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

SUPPRESSION_REASONS = ("bounce", "complaint", "unsubscribe", "manual")

#: How far an outside list has been read, by source (migration 0024): the scheduler's
#: import of SES's account-level suppression list (``ses-suppressions``) reads on from
#: ``read_until`` (SES's LastUpdateTime).
import_cursors = Table(
    "import_cursors",
    metadata,
    Column("source", Text, primary_key=True),
    Column("read_until", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

#: Addresses a key must not send to. ``address`` is lower-cased; a send to
#: one ends ``suppressed`` without reaching the transport.
suppressions = Table(
    "suppressions",
    metadata,
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), primary_key=True),
    Column("address", Text, primary_key=True),
    Column("reason", Text, nullable=False),
    #: The message whose bounce, complaint or unsubscribe put it here.
    Column("message_id", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "reason IN (" + ", ".join(f"'{r}'" for r in SUPPRESSION_REASONS) + ")",
        name="suppression_reason_valid",
    ),
    #: The console's list and search (shared/db/suppressions.py, migration 0018), in
    #: byte order (COLLATE "C": addresses are lower-case ASCII) whatever the database's
    #: collation: the whole list and a prefix are ranges of the first, read in order; a
    #: domain is one key of the second, its addresses in order.
    Index("suppressions_prefix", "api_key_id", text('(address COLLATE "C")')),
    Index("suppressions_domain", "api_key_id", func.split_part(column("address"), "@", -1),
          text('(address COLLATE "C")')),
)

# --- templates and campaigns -----------------------------------------------------------
# A template is a name and a current version; each update adds a version row,
# never changes one. Whatever is sent from a template copies that version into
# a ``contents`` row (``contents.template_id``/``template_version``), so a
# campaign sends the version it was created with, whatever happens to the
# template afterwards.


templates = Table(
    "templates",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), nullable=False),
    Column("name", Text, nullable=False),
    #: The version new sends use; bumped by every update.
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: Deleted templates are hidden, not removed: their versions stay readable
    #: for the campaigns and messages that used them.
    Column("deleted_at", DateTime(timezone=True)),
    Index("templates_name", "api_key_id", "name", unique=True,
          postgresql_where=text("deleted_at IS NULL")),
)

template_versions = Table(
    "template_versions",
    metadata,
    Column("template_id", BigInteger, ForeignKey("templates.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text),
    #: Names used in subject, html and text, in order of first use.
    Column("variables", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("template_id", "version"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("topic_id", Text, nullable=False),
    Column("template_id", BigInteger, nullable=False),
    Column("template_version", Integer, nullable=False),
    #: The pinned copy of the template version every message of the campaign uses.
    Column("content_id", BigInteger, ForeignKey("contents.id"), nullable=False),
    Column("from_addr", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=CampaignStatus.ACTIVE.value),
    Column("scheduled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: Recipients after de-duplication; their ``seq`` runs 1..total.
    Column("total", Integer, nullable=False),
    #: Duplicate addresses dropped at creation.
    Column("duplicates", Integer, nullable=False, server_default="0"),
    #: Expansion cursor: recipients with ``seq <= expanded`` have message rows.
    #: Advanced in the same transaction that inserts those rows.
    Column("expanded", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: When its last message left created/queued/sending, the campaign active and
    #: expanded: ``campaign.completed`` (shared.db.outbox.complete_campaigns, migration
    #: 0023). Set once, never cleared.
    Column("completed_at", DateTime(timezone=True)),
    ForeignKeyConstraint(["template_id", "template_version"],
                         ["template_versions.template_id", "template_versions.version"]),
    CheckConstraint(f"status IN ({sql_list(set(CampaignStatus))})",
                    name="campaign_status_valid"),
    # The expansion step's query: active campaigns with recipients left to expand.
    Index("campaigns_to_expand", "scheduled_at",
          postgresql_where=text(f"status = '{CampaignStatus.ACTIVE}' AND expanded < total")),
)

campaign_recipients = Table(
    "campaign_recipients",
    metadata,
    Column("campaign_id", BigInteger, ForeignKey("campaigns.id"), nullable=False),
    #: 1..total in upload order (first occurrence of each address).
    Column("seq", Integer, nullable=False),
    #: Domain lower-cased, local part as given: the de-duplication key.
    Column("email", Text, nullable=False),
    #: The display name the address was given with (migration 0014).
    Column("name", Text),
    #: Exactly the template's variables, as text.
    Column("variables", JSONB, nullable=False),
    PrimaryKeyConstraint("campaign_id", "seq"),
)

#: Saved recipient lists: rows of an address and its values, named by a campaign
#: (``listId``) instead of carrying the rows (migration 0009). The console's
#: recipient grid is the same list, opened for editing (migration 0016 merged
#: its grids in): ``/v1/lists`` and ``/ui/grids`` read and write these rows.
recipient_lists = Table(
    "recipient_lists",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), nullable=False),
    #: A label, not a key: two lists of a key may share it (the API never refused that).
    Column("name", Text, nullable=False),
    #: The value columns besides ``email``, in the order given.
    Column("columns", ARRAY(Text), nullable=False),
    Column("total", Integer, nullable=False, server_default="0"),
    Column("duplicates", Integer, nullable=False, server_default="0"),
    #: The template whose variables the console's grid shows as columns (None: the
    #: list's own columns). Only a hint for the editor: a campaign names its template.
    Column("template_id", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: When the rows were last saved (created, or replaced from the grid).
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("recipient_lists_key", "api_key_id", "id"),
)

recipient_list_rows = Table(
    "recipient_list_rows",
    metadata,
    Column("list_id", BigInteger, ForeignKey("recipient_lists.id", ondelete="CASCADE"),
           nullable=False),
    #: 1..total in upload order (first occurrence of each address).
    Column("seq", Integer, nullable=False),
    Column("email", Text, nullable=False),
    #: The display name the address was given with (migration 0014).
    Column("name", Text),
    Column("values", JSONB, nullable=False),
    PrimaryKeyConstraint("list_id", "seq"),
)


#: The fleet's sending pause (shared.db.pause): one row while SES refuses to
#: send for the account (credentials, signature, clock, authorization, a
#: paused or suspended account), none otherwise. Mirrored into Redis for the
#: senders' check (shared.rate.pause).
sending_pause = Table(
    "sending_pause",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("reason", Text, nullable=False),
    Column("paused_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: Probes of the account (SES GetAccount) made since, and when the next is due.
    Column("probes", Integer, nullable=False, server_default=text("0")),
    Column("next_probe_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("id = 1", name="sending_pause_one_row"),
)
