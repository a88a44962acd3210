"""Accepting messages: the business rules between a valid request and stored rows."""

from __future__ import annotations

from dataclasses import asdict

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from shared.db.keys import ApiKey
from shared.db.messages import CreatedMessage, insert_messages
from shared.db.suppressions import suppress_new_messages
from shared.errors import PayloadTooLarge
from shared.i18n import Text
from shared.intake.attachments import check_total
from shared.intake.idempotency import Idempotency, first_answer, remember
from shared.intake.requests import MessageRequest
from shared.intake.rules import intake, sender_for, unique_addresses
from shared.intake.templated import resolve_templates
from shared.settings import Settings
from shared.sources import MessageSource
from shared.states import MessageState as S


def prepare(key: ApiKey, items: list[MessageRequest], settings: Settings) -> list[MessageRequest]:
    """The items with their sender and one copy per address; raise before anything is written."""
    total = sum(len(item.recipients) for item in items)
    if total > settings.max_recipients_per_request:
        raise PayloadTooLarge("too_many_recipients", Text(
            "%(count)s recipients in one request; the limit is %(max)s (split the request)",
            count=total, max=settings.max_recipients_per_request))
    check_total([a for item in items for a in item.attachments], settings.max_attachment_bytes)
    prepared = []
    for index, item in enumerate(items):
        sender = sender_for(key, item.from_addr, settings, field=f"messages[{index}].from")
        (recipients,) = unique_addresses(item.recipients)
        prepared.append(item.model_copy(update={"from_addr": sender,
                                                "recipients": list(recipients)}))
    return prepared


def accept(
    engine: Engine, broker: RedisBroker, key: ApiKey, items: list[MessageRequest],
    settings: Settings, idempotency: Idempotency | None = None,
    source: MessageSource = MessageSource.API,
) -> list[CreatedMessage]:
    """Store the messages in one transaction, then enqueue those due now (``rules.intake``).

    With ``idempotency``, a key seen before with the same body returns the
    first answer and creates nothing; with another body, Conflict. ``source``:
    the door they came in by.
    """
    items = prepare(key, resolve_templates(engine, key.id, items), settings)
    with intake(engine, broker, settings) as batch:
        first = first_answer(batch.conn, key.id, idempotency)
        if first is not None:
            return [CreatedMessage(**m) for m in first]
        created = insert_messages(batch.conn, key.id, items,
                                  queue_timeout=settings.queue_timeout, source=source)
        created = suppress_new_messages(batch.conn, created)
        remember(batch.conn, key.id, idempotency, 202, [asdict(m) for m in created])
        batch.due(m.id for m in created if m.state == S.QUEUED)
    return created
