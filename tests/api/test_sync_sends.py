"""Synchronous sends: the native ``?wait=`` and fureweb's ``isSync`` answer with the real
outcome once the recorder commits it, and 202 when the wait runs out."""

from __future__ import annotations

import falcon.testing
import pytest
from sqlalchemy import func, select

from services.api.app import ApiDeps, create_app
from shared.db.keys import create_key
from shared.db.tables import messages
from shared.transports import make_transport
from tests.support.pump import Pump
from tests.support.settings import changed


@pytest.fixture
def outbox(smtp_servers):
    return smtp_servers("plain")


@pytest.fixture
def sync_settings(settings, outbox):
    return changed(settings, transport="smtp", smtp_url=outbox.url, max_sync_wait=10)


@pytest.fixture
def client(sync_settings, make_client):
    return make_client(sync_settings)


@pytest.fixture
def pump(sync_settings, engine, broker, redis):
    return Pump(sync_settings, engine, broker, redis, make_transport(sync_settings))


@pytest.fixture
def fureweb_key(engine):
    with engine.begin() as conn:
        return create_key(conn, "fureweb", ["fureweb.com"])[1]


def native(client, api_key, wait, **item):
    body = {"messages": [{"topicId": "sync", "emails": ["a@example.net", "b@example.net"],
                          "subject": "Hi", "content": "<p>Hello</p>", **item}]}
    return client.simulate_post("/v1/messages", params={"wait": wait} if wait else None,
                                headers={"x-api-key": api_key[1]}, json=body)


# -- native API -------------------------------------------------------------------------------


def test_native_wait_answers_with_the_sent_outcome(client, pump, api_key, outbox):
    with pump.running():
        result = native(client, api_key, 10)
    assert result.status_code == 200, result.text
    states = {m["email"]: (m["status"], m["statusCode"]) for m in result.json["messages"]}
    assert states == {"a@example.net": ("sent", 2), "b@example.net": ("sent", 2)}
    assert all(m["providerMessageId"] for m in result.json["messages"])
    assert len(outbox.received) == 2


def test_native_wait_answers_with_the_failure(client, pump, api_key, outbox):
    outbox.behaviour.data_reply = "554 5.7.1 Rejected by policy"
    with pump.running():
        result = native(client, api_key, 10)
    assert result.status_code == 200, result.text
    assert {m["status"] for m in result.json["messages"]} == {"failed"}
    assert "554" in result.json["messages"][0]["error"]


def test_native_wait_that_runs_out_answers_202_with_the_ids(client, api_key, engine):
    result = native(client, api_key, 0.5)  # no sender is running
    assert result.status_code == 202
    ids = [m["id"] for m in result.json["messages"]]
    assert {m["status"] for m in result.json["messages"]} == {"queued"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)
                            .where(messages.c.id.in_(ids))).scalar_one() == 2


@pytest.mark.parametrize("wait", ["0", "-1", "abc", "11", "١", " 1", "1 ", "1_0", "1e0",
                                  "+1", "nan", "1."])
def test_native_wait_malformed_or_out_of_range_is_rejected_before_storing(client, api_key,
                                                                         engine, wait):
    result = native(client, api_key, wait)
    assert result.status_code == 400
    assert result.json["code"] == "invalid_wait"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0


def test_native_wait_for_too_many_recipients_is_rejected(client, api_key, engine):
    emails = [f"u{i}@example.net" for i in range(101)]
    result = native(client, api_key, 5, emails=emails)
    assert result.status_code == 400
    assert result.json["code"] == "invalid_wait" and "100" in result.json["message"]


# -- fureweb mailer ---------------------------------------------------------------------------


def mail(key, **fields):
    return {"isSync": False, "key": key, "from": "noreply@fureweb.com",
            "to": ["someone@example.net", "other@example.net"], "cc": ["boss@example.net"],
            "title": "메일 제목", "content": "<p>메일 본문</p>", **fields}


def test_fureweb_async_answers_200_at_once_and_sends(client, pump, fureweb_key, outbox):
    result = client.simulate_post("/api/mail", json=mail(fureweb_key))
    assert result.status_code == 200
    assert result.json == {"code": 200, "message": "OK"}
    pump.run()
    [got] = outbox.received
    assert got.mail_from == "noreply@fureweb.com"
    assert got.rcpt_tos == ("someone@example.net", "other@example.net", "boss@example.net")
    assert got.message["To"] == "someone@example.net, other@example.net"
    assert got.message["Cc"] == "boss@example.net"
    assert got.message["Subject"] == "메일 제목"


def test_fureweb_addresses_may_carry_names(client, pump, fureweb_key, outbox):
    result = client.simulate_post("/api/mail", json=mail(
        fureweb_key, to=["홍길동 <hong@example.net>", "<kim@example.net>"], cc=[]))
    assert result.json["code"] == 200, result.text
    pump.run()
    assert outbox.received[0].rcpt_tos == ("hong@example.net", "kim@example.net")


def test_fureweb_sync_answers_with_the_provider_message_id(client, pump, fureweb_key, outbox):
    with pump.running():
        result = client.simulate_post("/api/mail", json=mail(fureweb_key, isSync=True))
    assert result.status_code == 200, result.text
    assert result.json["code"] == 200 and result.json["message"] == "OK"
    assert f"<{result.json['messageId']}>" == outbox.received[0].message["Message-ID"]


def test_fureweb_sync_answers_with_the_send_error(client, pump, fureweb_key, outbox):
    outbox.behaviour.rcpt_replies = {a: "550 5.1.1 No such user"
                                     for a in ("someone@example.net", "other@example.net",
                                               "boss@example.net")}
    with pump.running():
        result = client.simulate_post("/api/mail", json=mail(fureweb_key, isSync=True))
    assert result.status_code == 500
    assert result.json["code"] == 500
    assert "550" in result.json["message"]


def test_fureweb_sync_with_an_unknown_outcome_answers_202(client, pump, fureweb_key, outbox):
    outbox.behaviour.drop_after_data = True
    with pump.running():
        result = client.simulate_post("/api/mail", json=mail(fureweb_key, isSync=True))
    assert result.status_code == 202, result.text
    assert "may have been delivered" in result.json["message"]


def test_fureweb_database_down_still_answers_in_its_shape(sync_settings, broker, redis,
                                                          fureweb_key):
    from shared.db.engine import make_engine
    from shared.runtime.localservers import free_port

    down = make_engine(f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x")
    app = create_app(ApiDeps(sync_settings, down, broker, redis))
    result = falcon.testing.TestClient(app).simulate_post("/api/mail", json=mail(fureweb_key))
    assert result.status_code == 500
    assert result.json == {"code": 500, "message": "server error"}


def test_fureweb_sync_that_times_out_answers_202(sync_settings, engine, broker, redis,
                                                 fureweb_key):
    app = create_app(ApiDeps(changed(sync_settings, max_sync_wait=0.5), engine, broker, redis))
    result = falcon.testing.TestClient(app).simulate_post(
        "/api/mail", json=mail(fureweb_key, isSync=True))
    assert result.status_code == 202
    assert result.json["code"] == 202 and result.json["id"]


@pytest.mark.parametrize("key", ["not-a-key", "", None])
def test_fureweb_invalid_key_is_406(client, engine, key):
    body = mail(key)
    if key is None:
        del body["key"]
    result = client.simulate_post("/api/mail", json=body)
    assert result.status_code == 406
    assert result.json == {"code": 406, "message": "invalid api key"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0


def test_fureweb_sender_outside_the_keys_domains_is_refused(client, fureweb_key, engine):
    result = client.simulate_post("/api/mail", json=mail(fureweb_key, **{"from": "me@evil.com"}))
    assert result.status_code == 403
    assert result.json["code"] == 403 and "evil.com" in result.json["message"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0


@pytest.mark.parametrize(("field", "value"), [
    ("to", []), ("to", ["nope"]), ("to", ["a@example.net, b@example.net"]),
    ("cc", ["a@b"]), ("title", ""), ("title", "a\nBcc: x@y.z"),
    ("content", None), ("from", "nobody"), ("isSync", "yes"),
])
def test_fureweb_bad_field_is_400(client, fureweb_key, field, value):
    result = client.simulate_post("/api/mail", json=mail(fureweb_key, **{field: value}))
    assert result.status_code == 400, result.text
    assert result.json["code"] == 400 and field in result.json["message"]


def test_fureweb_post_paths(client, fureweb_key):
    """Both paths the post names: /api/mail and the protocol section's /mail."""
    for path in ("/api/mail", "/mail"):
        assert client.simulate_post(path, json=mail(fureweb_key)).json["code"] == 200
