"""Tables of templates and campaigns (SQLAlchemy Core); migration 0005 creates them.

A template is a name and a current version; each update adds a version
row, never changes one. Whatever is sent from a template copies that
version into a ``contents`` row (``contents.template_id``/``template_version``),
so a campaign sends the version it was created with, whatever happens to
the template afterwards.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from shared.db.tables import metadata

#: What an operator may do to a campaign; the progress view derives the rest
#: (scheduled, expanding, sending, completed) from counts.
CAMPAIGN_STATUSES = ("active", "paused", "cancelled")

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
    Column("status", Text, nullable=False, server_default="active"),
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
    ForeignKeyConstraint(["template_id", "template_version"],
                         ["template_versions.template_id", "template_versions.version"]),
    CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in CAMPAIGN_STATUSES) + ")",
                    name="campaign_status_valid"),
    # The expansion step's query: active campaigns with recipients left to expand.
    Index("campaigns_to_expand", "scheduled_at",
          postgresql_where=text("status = 'active' AND expanded < total")),
)

campaign_recipients = Table(
    "campaign_recipients",
    metadata,
    Column("campaign_id", BigInteger, ForeignKey("campaigns.id"), nullable=False),
    #: 1..total in upload order (first occurrence of each address).
    Column("seq", Integer, nullable=False),
    #: Domain lower-cased, local part as given: the de-duplication key.
    Column("email", Text, nullable=False),
    #: Exactly the template's variables, as text.
    Column("variables", JSONB, nullable=False),
    PrimaryKeyConstraint("campaign_id", "seq"),
)
