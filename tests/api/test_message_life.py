"""A message's whole life through the API: sent, delivered or bounced, opened, clicked, counted."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import falcon.testing
import pytest
from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from services.recorder.events import record_events
from services.recorder.record import record_outcomes
from services.sender.batch import send_batch
from shared.broker.payloads import SendBatch, decode_events, decode_outcomes
from shared.broker.queues import EVENT_QUEUE, OUTCOME_QUEUE
from shared.settings import load_settings
from tests.e2e.test_smoke_pipeline_steps import drain
from tests.sender.test_suppression_and_tracking import HTML, html_of, sent_mail
from tests.support.pump import sender_deps
from tests.support.sns import (
    CERT_URL,
    FakeSnsHttp,
    SigningAuthority,
    notification,
    ses_event_publishing,
    ses_identity_notification,
)

HUMAN = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15"


@pytest.fixture
def world(settings, engine, broker, redis, api_key):
    """The API, a sender step and the recorder steps, all on real PostgreSQL and Redis."""
    settings = load_settings(**{**settings.model_dump(), "secret_key": "s" * 32,
                                "public_url": "https://mail.example.com"}, _env_file=None)
    ca = SigningAuthority()
    client = falcon.testing.TestClient(create_app(
        ApiDeps(settings, engine, broker, redis, sns_http=FakeSnsHttp({CERT_URL: ca.pem}))))
    headers = {"x-api-key": api_key[1]}

    class World:
        def post(self, emails, **fields):
            answer = client.simulate_post("/v1/messages", headers=headers, json={"messages": [
                {"topicId": "life", "emails": emails, "subject": "Hi", "content": HTML,
                 **fields}]})
            assert answer.status_code == 200, answer.text
            return [m["id"] for m in answer.json["messages"]]

        def send(self, ids):
            send_batch(sender_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
            self.record()

        def record(self):
            for batch in drain(redis, OUTCOME_QUEUE, decode_outcomes):
                record_outcomes(engine, batch, max_attempts=settings.max_attempts)
            for batch in drain(redis, EVENT_QUEUE, decode_events):
                record_events(engine, batch)

        def sns(self, body):
            answer = client.simulate_post("/v1/events/results",
                                          body=json.dumps(ca.sign(notification(body))))
            assert answer.status_code == 200, answer.text
            self.record()

        def get(self, path, **kwargs):
            return client.simulate_get(path, headers={**headers, **kwargs.pop("headers", {})},
                                       **kwargs)

        def hit(self, url, agent=HUMAN):
            parts = urlsplit(url.replace("&amp;", "&"))
            answer = client.simulate_get(parts.path, query_string=parts.query,
                                         headers={"User-Agent": agent})
            self.record()
            return answer

        def provider_id(self, message_id):
            return self.get(f"/v1/messages/{message_id}").json["providerMessageId"]

        def age(self, seconds):
            """Move the sends and what happened to them ``seconds`` into the past."""
            with engine.begin() as conn:
                conn.execute(text("UPDATE messages SET sent_at = sent_at - make_interval("
                                  "secs => :s)"), {"s": seconds})
                conn.execute(text("UPDATE events SET occurred_at = occurred_at - make_interval("
                                  "secs => :s)"), {"s": seconds})

    return World()


def links(html: str) -> tuple[str, str]:
    """The click link and the open pixel in a tracked HTML body."""
    click = html.split('href="')[1].split('"')[0]
    pixel = html.split('<img src="')[1].split('"')[0]
    return click, pixel


def test_delivered_opened_and_clicked_message_is_visible_through_the_api(world, settings):
    [message_id] = world.post(["reader@example.com"])
    world.send([message_id])
    provider_id = world.provider_id(message_id)
    world.sns(ses_event_publishing("Delivery", provider_id, "reader@example.com"))
    assert world.get(f"/v1/messages/{message_id}").json["status"] == "delivered"

    world.age(3600)  # read an hour later
    click, pixel = links(html_of(sent_mail(settings)[0]))
    assert world.hit(pixel, agent="Mozilla/5.0").status_code == 200  # Apple MPP prefetch
    assert world.hit(pixel).status_code == 200
    assert world.hit(pixel).status_code == 200
    answer = world.hit(click)
    assert answer.status_code == 302 and answer.headers["location"] == "https://example.com/offer"

    shown = world.get(f"/v1/messages/{message_id}").json
    assert [(e["type"], e["machine"]) for e in shown["events"]] == [
        ("delivered", False), ("opened", True), ("opened", False), ("opened", False),
        ("clicked", False)]
    assert shown["events"][0]["payload"]["mail"]["messageId"] == provider_id
    assert shown["events"][-1]["detail"] == "https://example.com/offer"

    stats = world.get("/v1/topics/life").json["stats"]
    assert stats["sent"] == 1 and stats["delivered"] == 1
    assert stats["opens"] == {"unique": 1, "total": 2, "machine": 1}
    assert stats["clicks"] == {"unique": 1, "total": 1, "machine": 0}
    assert stats["rates"]["delivered"] == 1.0 and stats["rates"]["clicked"] == 1.0


def test_hard_bounce_suppresses_and_the_next_send_ends_suppressed(world, settings):
    [first] = world.post(["gone@example.com"])
    world.send([first])
    world.sns(ses_identity_notification("HardBounce", world.provider_id(first),
                                        "gone@example.com"))
    assert world.get(f"/v1/messages/{first}").json["status"] == "bounced"
    listed = world.get("/v1/suppressions").json["suppressions"]
    assert [(s["email"], s["reason"], s["messageId"]) for s in listed] == [
        ("gone@example.com", "bounce", first)]

    [second] = world.post(["Gone@example.com"])
    world.send([second])
    assert world.get(f"/v1/messages/{second}").json["status"] == "suppressed"
    assert len(sent_mail(settings)) == 1


def test_soft_bounce_does_not_suppress(world):
    [message_id] = world.post(["full@example.com"])
    world.send([message_id])
    world.sns(ses_event_publishing("SoftBounce", world.provider_id(message_id),
                                   "full@example.com"))
    assert world.get(f"/v1/messages/{message_id}").json["status"] == "bounced"
    assert world.get("/v1/suppressions").json["suppressions"] == []
    stats = world.get("/v1/topics/life").json["stats"]
    assert (stats["bounced"], stats["hardBounced"], stats["softBounced"]) == (1, 0, 1)


def test_complaint_and_stats_over_several_messages(world):
    ids = world.post([f"u{i}@example.com" for i in range(4)])
    world.send(ids)
    for i in ids:
        world.sns(ses_event_publishing("Delivery", world.provider_id(i)))
    world.sns(ses_event_publishing("Complaint", world.provider_id(ids[0])))
    world.sns(ses_event_publishing("DeliveryDelay", world.provider_id(ids[1])))
    topic = world.get("/v1/topics/life").json
    assert topic["total"] == 4 and topic["status"] == {"delivered": 3, "complained": 1}
    stats = topic["stats"]
    assert (stats["delivered"], stats["complained"], stats["delayed"]) == (4, 1, 1)
    assert stats["rates"]["complained"] == 0.25
    assert [s["reason"] for s in world.get("/v1/suppressions").json["suppressions"]] == [
        "complaint"]
