"""Cancelling unclaimed messages, and POSTs made safe to retry with Idempotency-Key."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import falcon.testing
import pytest
from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from shared.db.claims import claim_for_sending


@pytest.fixture
def client(settings, engine, broker, redis, api_key):
    return falcon.testing.TestClient(create_app(ApiDeps(settings, engine, broker, redis)),
                                     headers={"x-api-key": api_key[1]})


def post(client, emails, topic="t", key=None, api_key=None, **extra):
    headers = {"x-api-key": api_key} if api_key else {}
    if key:
        headers["Idempotency-Key"] = key
    body = {"messages": [{"topicId": topic, "emails": emails, "subject": "s",
                          "content": "<p>c</p>", **extra}]}
    return client.simulate_post("/v1/messages", json=body, headers=headers)


def count(engine, sql="SELECT count(*) FROM messages"):
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_cancel_one_unclaimed_message(client, engine):
    [message] = post(client, ["a@example.com"]).json["messages"]
    answer = client.simulate_delete(f"/v1/messages/{message['id']}")
    assert answer.status_code == 200
    assert answer.json == {"cancelled": 1, "notCancelled": 0, "notCancelledByStatus": {}}
    shown = client.simulate_get(f"/v1/messages/{message['id']}").json
    assert shown["status"] == "cancelled" and shown["statusCode"] == 4


def test_cancelled_message_is_never_claimed(client, engine):
    [message] = post(client, ["a@example.com"]).json["messages"]
    client.simulate_delete(f"/v1/messages/{message['id']}")
    with engine.begin() as conn:
        assert claim_for_sending(conn, [message["id"]], worker_id="w", lease=60) == []


def test_cancel_topic_reports_what_was_already_claimed(client, engine):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    ids = [m["id"] for m in post(client, ["a@example.com", "b@example.com", "c@example.com"],
                                 topic="promo").json["messages"]]
    post(client, ["d@example.com"], topic="promo", scheduledAt=later)
    with engine.begin() as conn:
        claim_for_sending(conn, ids[:1], worker_id="w", lease=60)
    answer = client.simulate_delete("/v1/topics/promo")
    assert answer.json == {"topicId": "promo", "cancelled": 3, "notCancelled": 1,
                           "notCancelledByStatus": {"sending": 1}, "campaignsCancelled": 0}
    assert client.simulate_get("/v1/topics/promo").json["status"] == {
        "cancelled": 3, "sending": 1}


def test_cancel_of_another_keys_message_is_not_found(client, engine):
    from shared.db.keys import create_key

    [message] = post(client, ["a@example.com"]).json["messages"]
    with engine.begin() as conn:
        _, other = create_key(conn, "other", [])
    answer = client.simulate_delete(f"/v1/messages/{message['id']}",
                                    headers={"x-api-key": other})
    assert answer.status_code == 404
    assert count(engine, "SELECT count(*) FROM messages WHERE state = 'cancelled'") == 0


def test_same_key_and_body_returns_the_first_answer_and_creates_nothing(client, engine, redis):
    first = post(client, ["a@example.com", "b@example.com"], key="k-1")
    queued = redis.llen("dramatiq:mailpipe.send")
    again = post(client, ["a@example.com", "b@example.com"], key="k-1")
    assert again.status_code == 200
    # The same answer; only ``elapsed`` is the replay's own time.
    assert {**again.json, "elapsed": None} == {**first.json, "elapsed": None}
    assert count(engine) == 2
    assert redis.llen("dramatiq:mailpipe.send") == queued


def test_same_key_with_another_body_is_a_conflict(client, engine):
    post(client, ["a@example.com"], key="k-2")
    answer = post(client, ["someone-else@example.com"], key="k-2")
    assert answer.status_code == 409
    assert answer.json["code"] == "idempotency_key_reused"
    assert count(engine) == 1


def test_key_older_than_a_day_is_forgotten(client, engine):
    post(client, ["a@example.com"], key="k-3")
    with engine.begin() as conn:
        conn.execute(text("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"))
    assert post(client, ["a@example.com"], key="k-3").status_code == 200
    assert count(engine) == 2


def test_concurrent_requests_with_one_key_create_the_messages_once(client, engine):
    answers = []
    start = threading.Barrier(4)

    def send() -> None:
        start.wait()
        answers.append(post(client, ["a@example.com", "b@example.com"], key="k-4"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [200] * 4
    assert len({str({**a.json, "elapsed": None}) for a in answers}) == 1  # one answer
    assert count(engine) == 2


def test_idempotency_key_is_per_api_key(client, engine):
    from shared.db.keys import create_key

    post(client, ["a@example.com"], key="shared")
    with engine.begin() as conn:
        _, other = create_key(conn, "other", [])
    assert post(client, ["a@example.com"], key="shared", api_key=other).status_code == 200
    assert count(engine) == 2
