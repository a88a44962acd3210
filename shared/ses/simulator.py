"""``mailpipe ses test``: SES's mailbox simulator, sent to through mailpipe's own path, and
the events it answers with awaited back through the loop.

SES answers mail to its simulator's addresses as a real mailbox would, without
touching the account's reputation: ``success@`` is delivered, ``bounce@`` bounces
hard, ``complaint@`` is delivered and complained about. One message to each is
taken in by the same intake as the REST API (``shared.intake.messages.accept``),
sent by the running senders, and each is done once its expected event has come
back from SES through SNS, the api and the recorder (``Probe.done``).

The simulator's addresses end on the key's suppression list after each test (a
hard bounce and a complaint suppress): they are taken off it first, so a test can
run again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from shared.broker.payloads import EventType
from shared.db.keys import ApiKey
from shared.db.reads import get_message
from shared.db.suppressions import remove_suppression
from shared.intake.messages import accept
from shared.intake.requests import MessageRequest
from shared.settings import Settings
from shared.states import MessageState

SIMULATOR = "simulator.amazonses.com"
#: Address → the event that proves its loop works.
EXPECTED = {f"success@{SIMULATOR}": EventType.DELIVERED,
            f"bounce@{SIMULATOR}": EventType.BOUNCED,
            f"complaint@{SIMULATOR}": EventType.COMPLAINED}
TOPIC = "mailpipe-ses-test"


@dataclass
class Probe:
    """One simulator message and what has come back for it."""

    address: str
    message_id: int
    expected: EventType
    state: str = MessageState.QUEUED
    provider_message_id: str | None = None
    events: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.expected.value in self.events


def send_probes(engine: Engine, broker: RedisBroker, key: ApiKey, settings: Settings,
                from_addr: str) -> list[Probe]:
    """One message to each simulator address, as key ``key`` (its simulator addresses
    taken off its suppression list first)."""
    with engine.begin() as conn:
        for address in EXPECTED:
            remove_suppression(conn, key.id, address)
    item = MessageRequest(
        topic_id=TOPIC, from_addr=from_addr, recipients=list(EXPECTED),
        subject="mailpipe ses test", tracking=False,
        html="<p>mailpipe's test of SES's feedback loop (the mailbox simulator).</p>")
    created = accept(engine, broker, key, [item], settings)
    return [Probe(m.to_addr, m.id, EXPECTED[m.to_addr.lower()], m.state) for m in created]


def refresh(engine: Engine, key: ApiKey, probes: list[Probe]) -> None:
    """Each probe's state and events as stored now."""
    with engine.connect() as conn:
        for probe in probes:
            found = get_message(conn, key.id, probe.message_id) or {}
            probe.state = found.get("state", probe.state)
            probe.provider_message_id = found.get("provider_message_id")
            probe.events = [e["type"] for e in found.get("events", [])]


def await_events(engine: Engine, key: ApiKey, probes: list[Probe], timeout: float, *,
                 poll: float = 1.0, report: Callable[[Probe], None] = lambda probe: None,
                 clock: Callable[[], float] = time.monotonic) -> bool:
    """Wait until every probe is ``done`` or ``timeout`` seconds pass; ``report`` each as it
    finishes. True when all came back."""
    deadline = clock() + timeout
    reported: set[int] = set()
    while True:
        refresh(engine, key, probes)
        for probe in probes:
            if probe.done and probe.message_id not in reported:
                reported.add(probe.message_id)
                report(probe)
        if all(p.done for p in probes) or clock() >= deadline:
            return all(p.done for p in probes)
        time.sleep(poll)
