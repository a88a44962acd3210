"""What the sender does with suppressed recipients, tracking and bulk mail."""

from __future__ import annotations

import email
import email.policy
from urllib.parse import parse_qs, unquote, urlsplit

import falcon.testing
import pytest
from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from services.sender.batch import send_batch
from shared.broker.payloads import SendBatch
from shared.db.messages import message_states
from shared.db.suppressions import add_suppressions
from shared.rendering.tracking import Kind, Tracker
from shared.settings import load_settings
from tests.api.test_messages_api import enqueued_ids
from tests.support.pump import sender_deps

SECRET = "tracking-secret-for-tests"
HTML = '<html><body><p>Hi <a href="https://example.com/offer">offer</a></p></body></html>'


@pytest.fixture
def tracking_settings(settings):
    return load_settings(**{**settings.model_dump(), "secret_key": SECRET,
                            "public_url": "https://mail.example.com"}, _env_file=None)


@pytest.fixture
def post(tracking_settings, engine, broker, redis, api_key):
    client = falcon.testing.TestClient(
        create_app(ApiDeps(tracking_settings, engine, broker, redis)))

    def send(emails, **fields) -> list[int]:
        answer = client.simulate_post(
            "/v1/messages", headers={"x-api-key": api_key[1]},
            json={"messages": [{"topicId": "t", "emails": emails, "subject": "Hi",
                                "content": HTML, **fields}]})
        assert answer.status_code == 200, answer.text
        return [m["id"] for m in answer.json["messages"]]

    return send


@pytest.fixture
def send(tracking_settings, engine, broker, redis):
    deps = sender_deps(tracking_settings, engine, broker, redis)
    return lambda ids: send_batch(deps, SendBatch(tuple(ids)))


def sent_mail(settings) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(settings.file_dir.glob("*.eml"))]


def html_of(mime) -> str:
    return mime.get_body(("html",)).get_content()


def test_send_to_a_suppressed_address_ends_suppressed_without_sending(
    tracking_settings, engine, api_key, post, send
):
    with engine.begin() as conn:
        add_suppressions(conn, api_key[0].id, ["Gone@Example.com"], "bounce")
    ids = post(["gone@example.com", "here@example.com"])
    result = send(ids)
    assert [o.message_id for o in result.outcomes] == [ids[1]]
    with engine.connect() as conn:
        assert message_states(conn, ids) == {ids[0]: "suppressed", ids[1]: "sending"}
    assert [m["To"] for m in sent_mail(tracking_settings)] == ["here@example.com"]


def test_suppression_of_another_key_does_not_apply(engine, api_key, post, send):
    from shared.db.keys import create_key

    with engine.begin() as conn:
        other, _ = create_key(conn, "other", [])
        add_suppressions(conn, other.id, ["a@example.com"], "complaint")
    [message_id] = post(["a@example.com"])
    assert len(send([message_id]).outcomes) == 1


def test_links_are_tracked_and_a_pixel_added(tracking_settings, post, send):
    [message_id] = post(["a@example.com"])
    send([message_id])
    [mime] = sent_mail(tracking_settings)
    html = html_of(mime)
    assert 'href="https://example.com/offer"' not in html
    tracker = Tracker(SECRET, tracking_settings.public_url)
    click = html.split('href="')[1].split('"')[0].replace("&amp;", "&")
    assert click.startswith("https://mail.example.com/v1/events/click?t=")
    claim = tracker.read(unquote(parse_qs(urlsplit(click).query)["t"][0]))
    assert (claim.kind, claim.message_id, claim.url) == (
        Kind.CLICK, message_id, "https://example.com/offer")
    assert "https://mail.example.com/v1/events/open?t=" in html
    assert "List-Unsubscribe" not in mime  # not bulk


def test_tracking_off_leaves_the_html_alone(tracking_settings, post, send):
    send(post(["a@example.com"], tracking=False))
    [mime] = sent_mail(tracking_settings)
    assert 'href="https://example.com/offer"' in html_of(mime)
    assert "/v1/events/open" not in html_of(mime)


def test_bulk_mail_carries_one_click_unsubscribe(tracking_settings, post, send):
    [message_id] = post(["a@example.com"], bulk=True, tracking=False)
    send([message_id])
    [mime] = sent_mail(tracking_settings)
    tracker = Tracker(SECRET, tracking_settings.public_url)
    # A long header is folded onto its own continuation line; unfolded it is the URL.
    assert mime["List-Unsubscribe"].strip() == f"<{tracker.unsubscribe_url(message_id)}>"
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_without_a_secret_key_nothing_is_tracked(settings, engine, broker, redis, api_key):
    client = falcon.testing.TestClient(create_app(ApiDeps(settings, engine, broker, redis)))
    answer = client.simulate_post(
        "/v1/messages", headers={"x-api-key": api_key[1]},
        json={"messages": [{"topicId": "t", "emails": ["a@example.com"], "subject": "Hi",
                            "content": HTML, "bulk": True}]})
    send_batch(sender_deps(settings, engine, broker, redis),
               SendBatch((answer.json["messages"][0]["id"],)))
    [mime] = sent_mail(settings)
    assert 'href="https://example.com/offer"' in html_of(mime)
    assert "List-Unsubscribe" not in mime


def test_campaign_mail_is_bulk_and_skips_suppressed_recipients(
    tracking_settings, engine, broker, redis, api_key, send
):
    from services.scheduler.expand import expand_step

    client = falcon.testing.TestClient(
        create_app(ApiDeps(tracking_settings, engine, broker, redis)))
    headers = {"x-api-key": api_key[1]}
    template = client.simulate_post("/v1/templates", headers=headers, json={
        "name": "news", "subject": "News", "html": "<p>Hi {{name}}</p>"}).json["id"]
    with engine.begin() as conn:
        add_suppressions(conn, api_key[0].id, ["left@example.com"], "unsubscribe")
    answer = client.simulate_post("/v1/campaigns", headers=headers, json={
        "name": "June", "templateId": template, "topicId": "june",
        "recipients": [{"email": "left@example.com", "name": "L"},
                       {"email": "stays@example.com", "name": "S"}]})
    assert answer.status_code == 201, answer.text
    while expand_step(engine, broker, tracking_settings):
        pass
    with engine.connect() as conn:
        ids = list(conn.execute(text("SELECT id FROM messages ORDER BY to_addr")).scalars())
    send(ids)
    with engine.connect() as conn:
        assert message_states(conn, ids)[ids[0]] == "suppressed"
    [mime] = sent_mail(tracking_settings)
    assert mime["To"] == "stays@example.com"
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/v1/unsubscribe?t=" in mime["List-Unsubscribe"]


def test_post_to_a_suppressed_address_answers_suppressed_and_queues_nothing(
    tracking_settings, engine, broker, redis, api_key
):
    with engine.begin() as conn:
        add_suppressions(conn, api_key[0].id, ["gone@example.com"], "complaint")
    client = falcon.testing.TestClient(
        create_app(ApiDeps(tracking_settings, engine, broker, redis)))
    answer = client.simulate_post(
        "/v1/messages", headers={"x-api-key": api_key[1]},
        json={"messages": [{"topicId": "t", "emails": ["GONE@example.com", "ok@example.com"],
                            "subject": "Hi", "content": HTML}]})
    assert answer.status_code == 200, answer.text
    assert [(m["email"], m["status"]) for m in answer.json["messages"]] == [
        ("GONE@example.com", "suppressed"), ("ok@example.com", "queued")]
    assert enqueued_ids(redis) == [answer.json["messages"][1]["id"]]


def test_suppression_at_send_time_wakes_a_synchronous_caller(
    tracking_settings, engine, broker, redis, api_key, post, send
):
    from shared.intake.waiters import CHANNEL, decode_states

    [message_id] = post(["late@example.com"])
    with engine.begin() as conn:
        add_suppressions(conn, api_key[0].id, ["late@example.com"], "manual")
    listener = redis.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(CHANNEL)
    send([message_id])
    announced = None
    for _ in range(20):  # the first reads may be the (ignored) subscribe confirmation
        announced = listener.get_message(timeout=0.5)
        if announced:
            break
    listener.close()
    assert announced is not None and decode_states(announced["data"]) == {
        message_id: "suppressed"}


def test_compat_messages_are_not_tracked(tracking_settings, engine, api_key, send):
    from shared.db.envelopes import insert_envelope
    from shared.intake.requests import EnvelopeRequest

    with engine.begin() as conn:
        message_id, _ = insert_envelope(conn, api_key[0].id, EnvelopeRequest(
            topic_id="biz", from_addr="sender@example.com", to=("a@example.com",),
            cc=("b@example.com",), bcc=(), subject="Hi", html=HTML, text=None, reply_to=None,
            headers=(), attachments=(), mime_message_id="x1@example.com", source="biz"),
            queue_timeout=300)
    send([message_id])
    [mime] = sent_mail(tracking_settings)
    assert 'href="https://example.com/offer"' in html_of(mime)
    assert "/v1/events/open" not in html_of(mime)
