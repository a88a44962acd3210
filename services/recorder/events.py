"""The recorder's event step: classify tracking hits, store events, apply them."""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import Engine

from shared.broker.payloads import Event, EventBatch, EventType
from shared.db.events import StoredEvent, arrival_times, insert_events
from shared.guard import Observation, ReputationGuard
from shared.metrics.instruments import EVENTS
from shared.rendering.tracking import machine_reason

log = logging.getLogger("mailpipe.recorder")

_HITS = (EventType.OPENED, EventType.CLICKED)


def _hit_facts(event: Event) -> tuple[str | None, str | None, str | None]:
    """(user agent, address, method) of an open or click, ours or SES's."""
    payload = event.payload or {}
    if event.sns_message_id is None:
        return payload.get("userAgent"), payload.get("ip"), payload.get("method")
    details = payload.get("open" if event.type is EventType.OPENED else "click") or {}
    return details.get("userAgent"), details.get("ipAddress"), None


def record_events(engine: Engine, batch: EventBatch, guard: ReputationGuard | None = None
                  ) -> list[StoredEvent]:
    """Store ``batch`` in one transaction; returns the events new to the database.

    ``guard`` counts the hard bounces and complaints among them and pauses, in the
    same transaction, the keys and topics they push past a pause level.

    Opens and clicks by prefetchers and link scanners are stored as machine
    events. Replays (same SNS MessageId) are skipped by the database.
    """
    with engine.begin() as conn:
        arrived = arrival_times(conn, [e.message_id for e in batch.events
                                       if e.type in _HITS and e.message_id is not None])
        machine = {}
        for index, event in enumerate(batch.events):
            if event.type not in _HITS:
                continue
            arrived_at = arrived.get(event.message_id)
            agent, ip, method = _hit_facts(event)
            reason = machine_reason(
                event.type.value, user_agent=agent, ip=ip, method=method,
                seconds_since_arrival=(event.at - arrived_at.timestamp()) if arrived_at else None,
            )
            machine[index] = reason is not None
            if reason:
                log.info("%s of message %s looks automated: %s",
                         event.type.value, event.message_id, reason)
        stored = insert_events(conn, list(batch.events), machine)
        seen = guard.observe(conn, feedback=stored) if guard else Observation()
    if guard:
        guard.announce(seen)
    for event in stored:
        EVENTS.labels(event.type).inc()
    skipped = len(batch.events) - len(stored)
    orphans = sum(1 for e in stored if e.message_id is None)
    log.info("recorded %d events %s%s%s", len(stored), dict(Counter(e.type for e in stored)),
             f", {orphans} not matched to a message yet" if orphans else "",
             f", {skipped} already recorded" if skipped else "")
    return stored

