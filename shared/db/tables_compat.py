"""Tables for attachments and tenant SMTP relays (the compat APIs' needs).

Kept apart from ``tables.py`` so features developed side by side touch
different files; both share one ``metadata``. Migration 0004 creates these.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from shared.db.tables import metadata

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
