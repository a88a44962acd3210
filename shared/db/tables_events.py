"""Tables of the events feature: the per-key suppression list.

Kept apart from ``tables.py`` so features developed side by side touch
different files; both share one ``metadata``. Migration 0003 creates these
(and adds the events and contents columns declared in ``tables.py``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Table,
    Text,
    func,
)

from shared.db.tables import metadata

SUPPRESSION_REASONS = ("bounce", "complaint", "unsubscribe", "manual")

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
)
