"""The event catalogue (shared/webhooks/catalogue.py) says what the writers really write,
and docs/webhooks.md shows exactly it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from scripts.generated import splice
from scripts.webhooks_doc import BEGIN, END, main, render_catalogue
from services.recorder.events import record_events
from services.scheduler.expand import expand_due_campaigns
from services.scheduler.sweeps import sweep_expired_leases
from shared.broker.payloads import Event, EventBatch, EventType, OutcomeKind
from shared.db.guard import GuardPause, ScopeFigures
from shared.db.suppressions import unsubscribe_message_recipient
from shared.guard import Levels, judge, paused_event
from shared.webhooks.catalogue import CATALOGUE
from shared.webhooks.events import OutboundEventType as T
from tests.recorder.test_outbox_events import claimed, outcomes
from tests.recorder.test_record_events import sent_messages, ses
from tests.scheduler.test_expand import make_campaign
from tests.support.webhooks import add_endpoint, outbox

DOC = Path("docs/webhooks.md")


def shape(value):
    """The keys of a JSON object, nested; what is not an object is only "a value"."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return "value"


def test_the_catalogue_in_the_docs_is_the_one_generated() -> None:
    committed = DOC.read_text(encoding="utf-8")
    assert splice(committed, render_catalogue(), BEGIN, END) == committed, (
        "docs/webhooks.md is out of date: run python -m scripts.webhooks_doc")


def test_the_generator_rewrites_a_stale_catalogue_and_check_reports_it(tmp_path) -> None:
    page = tmp_path / "webhooks.md"
    stale = DOC.read_text(encoding="utf-8").replace("### `message.sent`", "### `message.gone`")
    page.write_text(stale, encoding="utf-8")
    assert main(["--check", str(page)]) == 1
    assert main([str(page)]) == 0
    assert page.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")


def test_every_event_type_is_in_the_catalogue() -> None:
    assert list(CATALOGUE) == list(T)


def _write_every_message_event(engine, settings, broker, key) -> None:
    """One of each message event (and a campaign's completion), by the real writers."""
    key_id = key.id
    [done, unknown] = sent_messages(engine, key_id, 2)
    record_events(engine, EventBatch(tuple(ses(kind, done) for kind in (
        "DeliveryDelay", "Delivery", "HardBounce", "Complaint"))))
    record_events(engine, EventBatch((
        Event(EventType.OPENED, time.time(), message_id=done, payload={"userAgent": "x"}),
        Event(EventType.CLICKED, time.time(), message_id=done, detail="https://example.com",
              payload={"userAgent": "x"}),
    )))
    with engine.begin() as conn:
        unsubscribe_message_recipient(conn, unknown)
    [failed] = claimed(engine, key_id)
    outcomes(engine, OutcomeKind.FAILED, [failed], error="refused")
    [lost] = claimed(engine, key_id)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET lease_until = now() - interval '1 second'"
                          " WHERE id = :id"), {"id": lost})
    sweep_expired_leases(engine)
    # Both recipients are suppressed by now (r0 bounced, r1 unsubscribed): the campaign
    # completes as it is expanded.
    make_campaign(engine, settings, key, 2)
    expand_due_campaigns(engine, broker, settings.model_copy(update={"campaign_window": 0}))


def test_each_example_has_the_data_its_writer_writes(engine, settings, broker, api_key):
    add_endpoint(engine, api_key[0].id)
    _write_every_message_event(engine, settings, broker, api_key[0])
    written = {}
    for type_, _, data in outbox(engine):
        written.setdefault(type_, data)
    levels = Levels(0.02, 0.04, 0.0005, 0.001, 100)
    for topic in ("", "june"):
        verdict = judge(ScopeFigures(3, topic, "all", (1000.0, 52.0, 0.0), (0, 0, 0), "ok",
                                     (None,) * 4), levels)
        event = paused_event(GuardPause(1, 3, topic, False, verdict.reason, verdict.figures,
                                        datetime.now(UTC)))
        written[event.type.value] = event.data
    missing = {t.value for t in T} - set(written) - {T.WEBHOOK_TEST.value}
    assert missing == set(), f"no writer exercised for {missing}"
    for type_, data in written.items():
        assert shape(data) == shape(CATALOGUE[T(type_)].data), type_
