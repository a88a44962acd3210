"""One message as the console's message page shows it, whichever key and door it came from:
its row, its content's facts (template and version, pruned or not), its files and its events.

The body itself is rendered from ``shared.db.claims.as_claimed`` by the sender's
composer (shared.rendering.preview). Plain reads, no locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from shared.db.tables import (
    api_keys,
    attachment_blobs,
    campaigns,
    content_attachments,
    contents,
    events,
    messages,
    templates,
)


@dataclass(frozen=True)
class FileFacts:
    filename: str
    content_type: str
    size: int
    #: Shown in the HTML (``cid:``), not offered as a file.
    inline: bool


@dataclass(frozen=True)
class TimelineEvent:
    type: str
    occurred_at: datetime
    detail: str | None
    #: A prefetcher or a link scanner, not a person.
    machine: bool


@dataclass(frozen=True)
class MessageDetails:
    id: int
    api_key_id: int
    key_name: str
    source: str
    topic_id: str
    state: str
    from_addr: str
    to_addr: str
    to_name: str | None
    attempts: int
    provider_message_id: str | None
    mime_message_id: str | None
    error: str | None
    created_at: datetime
    scheduled_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    campaign_id: int | None
    campaign_name: str | None
    subject: str
    template_id: int | None
    template_name: str | None
    template_version: int | None
    #: When retention dropped the content's parts (subject, body, headers); None: kept.
    pruned_at: datetime | None
    files: tuple[FileFacts, ...]
    events: tuple[TimelineEvent, ...]


def message_details(conn: Connection, message_id: int) -> MessageDetails | None:
    """Message ``message_id`` (any key's) with what its page shows; None: no such message."""
    m, c, k, t, cp = messages.c, contents.c, api_keys.c, templates.c, campaigns.c
    row = conn.execute(
        select(m.id, m.api_key_id, k.name.label("key_name"), m.source, m.topic_id, m.state,
               m.from_addr, m.to_addr, m.to_name, m.attempts, m.provider_message_id,
               m.mime_message_id, m.error, m.created_at, m.scheduled_at, m.updated_at,
               m.sent_at, m.campaign_id, cp.name.label("campaign_name"), c.subject,
               c.template_id, t.name.label("template_name"), c.template_version, c.pruned_at,
               m.content_id)
        .select_from(messages.join(contents, c.id == m.content_id)
                     .join(api_keys, k.id == m.api_key_id)
                     .outerjoin(templates, t.id == c.template_id)
                     .outerjoin(campaigns, cp.id == m.campaign_id))
        .where(m.id == message_id)
    ).one_or_none()
    if row is None:
        return None
    values = row._asdict()
    content_id = values.pop("content_id")
    return MessageDetails(**values, files=_files(conn, content_id),
                          events=_events(conn, message_id))


def _files(conn: Connection, content_id: int) -> tuple[FileFacts, ...]:
    a, b = content_attachments.c, attachment_blobs.c
    rows = conn.execute(
        select(a.filename, a.content_type, b.size, a.inline)
        .select_from(content_attachments.join(attachment_blobs, b.id == a.blob_id))
        .where(a.content_id == content_id).order_by(a.position))
    return tuple(FileFacts(**row._mapping) for row in rows)


def _events(conn: Connection, message_id: int) -> tuple[TimelineEvent, ...]:
    e = events.c
    rows = conn.execute(
        select(e.type, e.occurred_at, e.detail, e.machine)
        .where(e.message_id == message_id).order_by(e.occurred_at, e.id))
    return tuple(TimelineEvent(**row._mapping) for row in rows)
