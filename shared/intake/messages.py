"""Accepting messages: the business rules between a valid request and stored rows."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import RedisError
from sqlalchemy import Engine

from shared.broker.queues import enqueue_sends
from shared.db.keys import ApiKey
from shared.db.messages import CreatedMessage, NewMessages, insert_messages
from shared.db.suppressions import suppress_new_messages
from shared.errors import Forbidden, InvalidRequest, PayloadTooLarge
from shared.intake.addresses import address_of
from shared.intake.attachments import Attachment, check_total
from shared.intake.idempotency import Idempotency, first_answer, remember
from shared.intake.templated import TemplateUse, resolve_templates
from shared.settings import Settings

log = logging.getLogger("mailpipe.intake")


@dataclass(frozen=True)
class MessageRequest:
    """One validated request item, before defaults are applied."""

    topic_id: str
    recipients: list[str]
    subject: str
    html: str
    text: str | None
    from_addr: str | None
    reply_to: str | None
    scheduled_at: datetime | None
    #: Set when the item names a template (subject/html/text then come from it).
    template: TemplateUse | None = None
    #: Open/click tracking wanted (needs MAILPIPE_SECRET_KEY); bulk mail
    #: carries one-click List-Unsubscribe headers.
    tracking: bool = True
    bulk: bool = False
    #: Checked extra header lines and files (shared.intake.headers, shared.intake.attachments).
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()


def _dedupe(recipients: list[str]) -> tuple[str, ...]:
    """One message per address: the same address twice (any case) is sent once."""
    seen: set[str] = set()
    unique = []
    for address in recipients:
        if address.lower() not in seen:
            seen.add(address.lower())
            unique.append(address)
    return tuple(unique)


def prepare(key: ApiKey, items: list[MessageRequest], settings: Settings) -> list[NewMessages]:
    """Apply defaults and the key's rules; raise before anything is written."""
    total = sum(len(item.recipients) for item in items)
    if total > settings.max_recipients_per_request:
        raise PayloadTooLarge(
            "too_many_recipients",
            f"{total} recipients in one request; the limit is "
            f"{settings.max_recipients_per_request} (split the request)",
        )
    check_total([a for item in items for a in item.attachments], settings.max_attachment_bytes)
    prepared = []
    for index, item in enumerate(items):
        sender = item.from_addr or settings.default_from
        if not sender:
            raise InvalidRequest(
                "missing_field",
                f"messages[{index}].from: required, since MAILPIPE_DEFAULT_FROM is not set",
                field=f"messages[{index}].from",
            )
        if not key.allows_sender(address_of(sender)):
            raise Forbidden(
                "sender_not_allowed",
                f"messages[{index}].from: {address_of(sender)} is not in this key's allowed "
                f"sender domains ({', '.join(key.allowed_domains)})",
                field=f"messages[{index}].from",
            )
        recipients = _dedupe(item.recipients)
        prepared.append(
            NewMessages(
                topic_id=item.topic_id,
                from_addr=sender,
                recipients=recipients,
                subject=item.subject,
                html=item.html,
                text=item.text,
                reply_to=item.reply_to,
                scheduled_at=item.scheduled_at,
                template_id=item.template.template_id if item.template else None,
                template_version=item.template.version if item.template else None,
                variables=item.template.values_for(recipients) if item.template else None,
                tracking=item.tracking,
                bulk=item.bulk,
                headers=item.headers,
                attachments=item.attachments,
            )
        )
    return prepared


def accept(
    engine: Engine, broker: RedisBroker, key: ApiKey, items: list[MessageRequest],
    settings: Settings, idempotency: Idempotency | None = None,
) -> list[CreatedMessage]:
    """Store the messages in one transaction, then enqueue those due now.

    The enqueue comes strictly after the commit, so a sender never reads a
    row that is not there. If Redis is down the request still succeeds: the
    rows are ``queued`` and the scheduler re-enqueues them after
    ``queue_timeout``. With ``idempotency``, a key seen before with the same
    body returns the first answer and creates nothing; with another body,
    Conflict.
    """
    items = resolve_templates(engine, key.id, items)
    prepared = prepare(key, items, settings)
    with engine.begin() as conn:
        first = first_answer(conn, key.id, idempotency)
        if first is not None:
            return [CreatedMessage(**m) for m in first]
        created = insert_messages(conn, key.id, prepared, queue_timeout=settings.queue_timeout)
        created = suppress_new_messages(conn, created)
        remember(conn, key.id, idempotency, 202, [asdict(m) for m in created])
    due = [m.id for m in created if m.state == "queued"]
    if due:
        try:
            enqueue_sends(broker, due, settings.send_batch)
        except RedisError as exc:
            log.warning("enqueue of %d messages failed (%s); the scheduler will retry "
                        "after %.0fs", len(due), exc, settings.queue_timeout)
    return created

