"""``/v1/webhooks``: a key's endpoints, its secret shown once, clear 4xx, and what it can ask."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from shared.db.keys import create_key
from shared.webhooks.events import OutboundEventType as T
from tests.support.settings import changed
from tests.webhooks.conftest import emit_events

URL = "https://hooks.example.com/in"


@pytest.fixture
def client(settings, make_client):
    return make_client(changed(settings, secret_key="webhook api test"))


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_the_secret_is_shown_once_and_in_no_get(client, headers):
    made = client.simulate_post("/v1/webhooks", json={"url": URL, "eventTypes": [
        "message.bounced", "message.delivered"], "topics": ["news"]}, headers=headers)
    assert made.status_code == 201 and made.headers["location"] == f"/v1/webhooks/{made.json['id']}"
    secret = made.json["secret"]
    assert secret.startswith("whsec_") and 24 <= len(secret) - len("whsec_")
    assert made.json["eventTypes"] == ["message.bounced", "message.delivered"]
    one = client.simulate_get(f"/v1/webhooks/{made.json['id']}", headers=headers)
    listed = client.simulate_get("/v1/webhooks", headers=headers)
    for answer in (one, listed):
        assert answer.status_code == 200 and secret not in answer.text
        assert "secret\"" not in answer.text.replace("previousSecretValidUntil", "")


def test_the_secret_is_stored_encrypted(client, headers, engine):
    made = client.simulate_post("/v1/webhooks", json={"url": URL}, headers=headers).json
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT secret FROM webhook_endpoints")).scalar_one()
    assert made["secret"] not in stored and made["secret"][6:] not in stored


def test_another_keys_endpoint_is_not_found(client, headers, engine):
    made = client.simulate_post("/v1/webhooks", json={"url": URL}, headers=headers).json
    with engine.begin() as conn:
        _, other = create_key(conn, "other", [])
    theirs = {"x-api-key": other}
    path = f"/v1/webhooks/{made['id']}"
    for answer in (client.simulate_get(path, headers=theirs),
                   client.simulate_patch(path, json={"enabled": False}, headers=theirs),
                   client.simulate_delete(path, headers=theirs),
                   client.simulate_post(f"{path}/rotate", headers=theirs),
                   client.simulate_post(f"{path}/test", headers=theirs),
                   client.simulate_get(f"{path}/deliveries", headers=theirs)):
        assert answer.status_code == 404 and answer.json["code"] == "webhook_not_found"
    assert client.simulate_get("/v1/webhooks", headers=theirs).json["webhooks"] == []
    assert client.simulate_get(path, headers=headers).json["enabled"] is True


BAD = [
    ({"url": "ftp://hooks.example.com/in"}, "invalid_url", "url"),
    ({"url": "hooks.example.com/in"}, "invalid_url", "url"),
    ({"url": "https://user:pw@hooks.example.com/in"}, "invalid_url", "url"),
    ({"url": "https://hooks.example.com/in#x"}, "invalid_url", "url"),
    ({"url": "https://hooks.example.com:99999/in"}, "invalid_url", "url"),
    ({"url": "https://hooks.example.com/ in"}, "invalid_url", "url"),
    ({"url": "http://hooks.example.com/in"}, "webhook_url_not_https", "url"),
    ({"url": "https://127.0.0.1/in"}, "webhook_url_private", "url"),
    ({"url": "https://[::1]/in"}, "webhook_url_private", "url"),
    ({"url": "https://169.254.169.254/latest"}, "webhook_url_private", "url"),
    ({"url": "https://10.1.2.3/in"}, "webhook_url_private", "url"),
    ({"url": "https://localhost/in"}, "webhook_url_private", "url"),
    ({"url": URL, "eventTypes": ["message.sent", "message.teleported"]}, "unknown_event_type",
     "eventTypes[1]"),
    ({"url": URL, "topics": [""]}, "empty", "topics[0]"),
    ({"url": URL, "secret": "whsec_mine"}, "unknown_field", "secret"),
    ({}, "missing_field", "url"),
]


def test_bad_input_is_a_clear_400_and_leaves_nothing(client, headers, engine):
    for body, code, field in BAD:
        answer = client.simulate_post("/v1/webhooks", json=body, headers=headers)
        assert answer.status_code == 400, (body, answer.json)
        assert (answer.json["code"], answer.json["field"]) == (code, field), body
    assert _count(engine, "webhook_endpoints") == 0


def test_http_and_private_targets_are_allowed_where_the_operator_says(settings, make_client,
                                                                      headers):
    client = make_client(changed(settings, secret_key="k", webhook_allow_http=True,
                                 webhook_private=True))
    answer = client.simulate_post("/v1/webhooks", json={"url": "http://127.0.0.1:8080/in"},
                                  headers=headers)
    assert answer.status_code == 201


def test_without_a_secret_key_webhooks_are_unavailable_and_say_why(settings, make_client,
                                                                   headers, engine):
    answer = make_client(settings).simulate_post("/v1/webhooks", json={"url": URL},
                                                 headers=headers)
    assert answer.status_code == 503 and answer.json["code"] == "webhooks_unavailable"
    assert "MAILPIPE_SECRET_KEY" in answer.json["message"]
    assert _count(engine, "webhook_endpoints") == 0


def test_patch_replaces_what_is_given_and_refuses_what_is_bad(client, headers):
    made = client.simulate_post("/v1/webhooks", json={"url": URL, "topics": ["a"]},
                                headers=headers).json
    path = f"/v1/webhooks/{made['id']}"
    changed_ = client.simulate_patch(path, json={"eventTypes": ["message.clicked"],
                                                 "enabled": False}, headers=headers).json
    assert changed_["eventTypes"] == ["message.clicked"] and changed_["topics"] == ["a"]
    assert changed_["enabled"] is False and changed_["disabledReason"] == "manual"
    for body, code in (({}, "empty"), ({"url": None}, "null_field"),
                       ({"url": "https://10.0.0.1/"}, "webhook_url_private"),
                       ({"eventTypes": ["nope"]}, "unknown_event_type")):
        answer = client.simulate_patch(path, json=body, headers=headers)
        assert (answer.status_code, answer.json["code"]) == (400, code)
    assert client.simulate_get(path, headers=headers).json == changed_


def test_delete_removes_the_endpoint_and_its_deliveries(client, headers, engine):
    made = client.simulate_post("/v1/webhooks", json={"url": URL}, headers=headers).json
    client.simulate_post(f"/v1/webhooks/{made['id']}/test", headers=headers)
    assert client.simulate_delete(f"/v1/webhooks/{made['id']}",
                                  headers=headers).status_code == 204
    assert _count(engine, "webhook_deliveries") == 0
    assert client.simulate_get(f"/v1/webhooks/{made['id']}", headers=headers).status_code == 404


def test_deliveries_page_newest_first_and_a_delivery_can_be_retried(client, headers, engine):
    made = client.simulate_post("/v1/webhooks", json={"url": URL}, headers=headers).json
    path = f"/v1/webhooks/{made['id']}"
    tests = [client.simulate_post(f"{path}/test", headers=headers).json for _ in range(3)]
    assert tests[0]["eventId"].startswith("evt_")
    page = client.simulate_get(f"{path}/deliveries?limit=2", headers=headers).json
    assert [d["id"] for d in page["deliveries"]] == [tests[2]["deliveryId"],
                                                     tests[1]["deliveryId"]]
    assert page["deliveries"][0]["type"] == "webhook.test"
    assert page["deliveries"][0]["state"] == "pending"
    rest = client.simulate_get(page["next"], headers=headers).json
    assert [d["id"] for d in rest["deliveries"]] == [tests[0]["deliveryId"]]
    with engine.begin() as conn:
        conn.execute(text("UPDATE webhook_deliveries SET state = 'failed', attempts = 10"))
    failed = client.simulate_get(f"{path}/deliveries?state=failed", headers=headers).json
    assert len(failed["deliveries"]) == 3
    retried = client.simulate_post(f"{path}/deliveries/{tests[0]['deliveryId']}/retry",
                                   headers=headers)
    assert retried.status_code == 200
    assert (retried.json["state"], retried.json["attempts"]) == ("pending", 0)
    assert client.simulate_post(f"{path}/deliveries/999/retry",
                                headers=headers).json["code"] == "delivery_not_found"
    assert client.simulate_get(f"{path}/deliveries?state=lost",
                               headers=headers).json["code"] == "invalid_parameter"


def test_replay_queues_the_stored_events_of_a_range_once_more(client, headers, engine,
                                                              api_key):
    made = client.simulate_post("/v1/webhooks", json={
        "url": URL, "eventTypes": ["message.sent", "message.bounced"]}, headers=headers).json
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT, T.MESSAGE_BOUNCED, T.MESSAGE_OPENED])
    path = f"/v1/webhooks/{made['id']}"
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(minutes=5)).isoformat(),
              "to": (now + timedelta(minutes=5)).isoformat()}
    everything = client.simulate_post(f"{path}/replay", json=window, headers=headers)
    assert everything.status_code == 202 and everything.json == {"replayed": 2}
    only = client.simulate_post(f"{path}/replay", json={**window,
                                                        "eventTypes": ["message.bounced"]},
                                headers=headers)
    assert only.json == {"replayed": 1}
    # Delivered ones only: none yet.
    assert client.simulate_post(f"{path}/replay", json={**window, "states": ["delivered"]},
                                headers=headers).json == {"replayed": 0}
    earlier = {"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"}
    assert client.simulate_post(f"{path}/replay", json=earlier,
                                headers=headers).json == {"replayed": 0}
    # One webhook-id per event however often it is replayed.
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT event_id), count(*) FROM "
                                 "webhook_deliveries")).one() == (2, 2 + 2 + 1)
    for body, code in (({**window, "to": window["from"]}, "invalid_range"),
                       ({"from": "yesterday", "to": window["to"]}, "invalid_datetime"),
                       ({**window, "states": ["lost"]}, "unknown_state"),
                       ({**window, "eventTypes": ["message.nope"]}, "unknown_event_type")):
        answer = client.simulate_post(f"{path}/replay", json=body, headers=headers)
        assert (answer.status_code, answer.json["code"]) == (400, code), answer.json


def test_an_api_key_has_at_most_twenty_endpoints(client, headers, engine):
    for _ in range(20):
        assert client.simulate_post("/v1/webhooks", json={"url": URL},
                                    headers=headers).status_code == 201
    answer = client.simulate_post("/v1/webhooks", json={"url": URL}, headers=headers)
    assert (answer.status_code, answer.json["code"]) == (409, "too_many_webhooks")
    assert _count(engine, "webhook_endpoints") == 20


def test_the_openapi_description_has_every_event_type_with_an_example(client):
    spec = client.simulate_get("/openapi.json").json
    assert set(spec["webhooks"]) == {str(t) for t in T}
    for name, item in spec["webhooks"].items():
        example = item["post"]["requestBody"]["content"]["application/json"]["example"]
        assert example["type"] == name and example["version"] == 1
    assert "WebhookEnvelope" in spec["components"]["schemas"]


