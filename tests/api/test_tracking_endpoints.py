"""Open pixel, click redirect and one-click unsubscribe: valid tokens only."""

from __future__ import annotations

import json

import falcon.testing
import pytest
from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from shared.broker.payloads import EventType, decode_events
from shared.broker.queues import EVENT_QUEUE
from shared.rendering.tracking import PIXEL_GIF, Kind, Tracker
from shared.settings import load_settings
from tests.scheduler.test_dispatch import make_messages

SECRET = "tracking-secret-for-tests"


@pytest.fixture
def tracking_settings(settings):
    return load_settings(**{**settings.model_dump(), "secret_key": SECRET,
                            "public_url": "https://mail.example.com"}, _env_file=None)


@pytest.fixture
def client(tracking_settings, make_client):
    return make_client(tracking_settings)


@pytest.fixture
def tracker(tracking_settings):
    return Tracker(SECRET, tracking_settings.public_url)


@pytest.fixture
def message_id(engine, api_key):
    return make_messages(engine, api_key[0].id, 1)[0]


def queued_events(redis) -> list:
    key = f"dramatiq:{EVENT_QUEUE}"
    return [e for queue_id in redis.lrange(key, 0, -1)
            for e in decode_events(json.loads(redis.hget(f"{key}.msgs", queue_id))["args"][0]
                                   ).events]


def suppressions(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            text("SELECT api_key_id, address, reason FROM suppressions"))]


def test_open_pixel_is_served_and_the_open_queued(client, tracker, redis, message_id):
    answer = client.simulate_get("/v1/events/open", params={"t": tracker.token(Kind.OPEN,
                                                                                 message_id)},
                                 headers={"User-Agent": "Thunderbird/115"})
    assert answer.status_code == 200 and answer.content == PIXEL_GIF
    assert answer.headers["content-type"] == "image/gif"
    assert "no-store" in answer.headers["cache-control"]
    [event] = queued_events(redis)
    assert (event.type, event.message_id) == (EventType.OPENED, message_id)
    assert event.payload["userAgent"] == "Thunderbird/115" and event.payload["method"] == "GET"


def test_old_systems_open_pixel_answers_the_image_and_records_nothing(client, redis,
                                                                      engine, message_id):
    # As aws-ses-sender-go wrote it into mail already delivered.
    answer = client.simulate_get(f"/v1/events/open?requestId={message_id}",
                                 headers={"User-Agent": "Thunderbird/115"})
    assert answer.status_code == 200 and answer.content == PIXEL_GIF
    assert answer.headers["content-type"] == "image/gif"
    assert queued_events(redis) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 0


def test_click_redirects_to_the_signed_url_and_queues_the_click(client, tracker, redis,
                                                                message_id):
    url = "https://example.com/landing?utm=1"
    answer = client.simulate_get("/v1/events/click",
                                 params={"t": tracker.token(Kind.CLICK, message_id, url)})
    assert answer.status_code == 302 and answer.headers["location"] == url
    [event] = queued_events(redis)
    assert (event.type, event.message_id, event.detail) == (EventType.CLICKED, message_id, url)


@pytest.mark.parametrize("path", ["/v1/events/open", "/v1/events/click"])
def test_forged_altered_or_missing_tokens_get_404_and_record_nothing(client, tracker, redis,
                                                                    path, message_id):
    other = Tracker("someone else's key", "https://mail.example.com")
    valid = tracker.token(Kind.CLICK if "click" in path else Kind.OPEN, message_id,
                          "https://example.com/")
    data, mac = valid.split(".")
    for token in (other.token(Kind.OPEN, message_id),
                  other.token(Kind.CLICK, message_id, "https://evil.example/"),
                  f"{data}.{mac[:-1]}A" if mac[-1] != "A" else f"{data}.{mac[:-1]}B",
                  f"{data[:-2]}.{mac}", "1", ""):
        answer = client.simulate_get(path, params={"t": token})
        assert answer.status_code == 404, token
        assert "location" not in answer.headers
    assert client.simulate_get(path).status_code == 404
    assert queued_events(redis) == []


def test_a_token_of_one_kind_does_not_work_as_another(client, tracker, redis, message_id):
    open_token = tracker.token(Kind.OPEN, message_id)
    assert client.simulate_get("/v1/events/click", params={"t": open_token}).status_code == 404
    assert client.simulate_post("/v1/unsubscribe", params={"t": open_token}).status_code == 404
    assert queued_events(redis) == []


def test_without_a_secret_key_nothing_is_tracked(settings, engine, broker, redis, tracker,
                                                 message_id):
    client = falcon.testing.TestClient(create_app(ApiDeps(settings, engine, broker, redis)))
    answer = client.simulate_get("/v1/events/open",
                                 params={"t": tracker.token(Kind.OPEN, message_id)})
    assert answer.status_code == 404 and queued_events(redis) == []


def test_unsubscribe_page_shows_a_button_and_unsubscribes_nobody(client, tracker, engine,
                                                                 message_id):
    token = tracker.token(Kind.UNSUBSCRIBE, message_id)
    answer = client.simulate_get("/v1/unsubscribe", params={"t": token})
    assert answer.status_code == 200 and '<form method="post"' in answer.text
    assert f'action="https://mail.example.com/v1/unsubscribe?t={token}"' in answer.text
    assert suppressions(engine) == []


def test_one_click_post_suppresses_the_recipient_for_the_sending_key(
    client, tracker, engine, redis, api_key, message_id
):
    token = tracker.token(Kind.UNSUBSCRIBE, message_id)
    for _ in range(2):  # a second click is harmless
        answer = client.simulate_post(
            "/v1/unsubscribe", params={"t": token}, body="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200 and "unsubscribed" in answer.text
    assert suppressions(engine) == [(api_key[0].id, "r0@example.com", "unsubscribe")]
    assert [e.type for e in queued_events(redis)] == [EventType.UNSUBSCRIBED] * 2


def test_forged_unsubscribe_is_refused(client, engine, message_id):
    forged = Tracker("not our key", "https://x").token(Kind.UNSUBSCRIBE, message_id)
    assert client.simulate_post("/v1/unsubscribe", params={"t": forged}).status_code == 404
    assert client.simulate_get("/v1/unsubscribe", params={"t": forged}).status_code == 404
    assert suppressions(engine) == []


def _hit_ip(make_client, tracking_settings, tracker, redis, message_id, peer, forwarded,
            **overrides) -> str:
    redis.delete(f"dramatiq:{EVENT_QUEUE}")
    client = make_client(load_settings(**{**tracking_settings.model_dump(), **overrides},
                                       _env_file=None))
    answer = client.simulate_get("/v1/events/open",
                                 params={"t": tracker.token(Kind.OPEN, message_id)},
                                 headers={"X-Forwarded-For": forwarded}, remote_addr=peer)
    assert answer.status_code == 200
    [event] = queued_events(redis)
    return event.payload["ip"]


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(make_client, tracking_settings,
                                                           tracker, redis, message_id):
    assert _hit_ip(make_client, tracking_settings, tracker, redis, message_id,
                   "203.0.113.9", "198.51.100.7") == "203.0.113.9"
    # A configured proxy list that does not include the peer changes nothing.
    assert _hit_ip(make_client, tracking_settings, tracker, redis, message_id,
                   "203.0.113.9", "198.51.100.7", trusted_proxies="10.0.0.0/8") == "203.0.113.9"


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(make_client, tracking_settings,
                                                               tracker, redis, message_id):
    trusted = {"trusted_proxies": "10.0.0.0/8, 192.0.2.1"}
    assert _hit_ip(make_client, tracking_settings, tracker, redis, message_id,
                   "10.1.2.3", "198.51.100.7", **trusted) == "198.51.100.7"
    # Walked from the right past trusted hops; what the client wrote on the left is not read.
    assert _hit_ip(make_client, tracking_settings, tracker, redis, message_id,
                   "10.1.2.3", "1.1.1.1, 198.51.100.7, 192.0.2.1", **trusted) == "198.51.100.7"


def test_trusted_proxies_setting_refuses_what_is_not_a_network(tracking_settings):
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="MAILPIPE_TRUSTED_PROXIES"):
        load_settings(**{**tracking_settings.model_dump(), "trusted_proxies": "10.0.0.0/8 nope"},
                      _env_file=None)
