"""The native v1 REST API, driven in-process against real PostgreSQL and Redis.

Every rejected request is checked for its status, its stable ``code``, a
message naming the offending field, and that it left nothing behind: no rows
in ``messages`` or ``contents`` and nothing in the send queue.
"""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.recorder.record import record_outcomes
from shared.broker.payloads import Outcome, OutcomeBatch, OutcomeKind, decode_send_batch
from shared.broker.queues import SEND_QUEUE
from shared.db.claims import claim_for_sending
from shared.db.keys import create_key, revoke_key
from shared.db.tables import contents, messages
from tests.support.settings import changed

SEND_KEY = f"dramatiq:{SEND_QUEUE}"


def item(**fields) -> dict:
    """A valid request item; ``fields`` override or add keys (None removes one)."""
    base = {"topicId": "t1", "emails": ["a@example.com"], "subject": "Hi",
            "content": "<p>Hello</p>", **fields}
    return {k: v for k, v in base.items() if v is not None}


def enqueued_ids(redis) -> list[int]:
    """Ids in every send batch waiting in Redis (without consuming them)."""
    ids = []
    for queue_id in redis.lrange(SEND_KEY, 0, -1):
        raw = redis.hget(f"{SEND_KEY}.msgs", queue_id)
        ids.extend(decode_send_batch(json.loads(raw)["args"][0]).ids)
    return ids


@pytest.fixture
def post(client, headers):
    def send(*items, body=None, client=client, headers=headers):
        if body is not None:
            return client.simulate_post("/v1/messages", headers=headers, body=body)
        return client.simulate_post("/v1/messages", headers=headers,
                                    json={"messages": list(items)})

    return send


@pytest.fixture
def assert_rejected(engine, redis):
    def check(result, status: int, code: str, field: str) -> None:
        assert result.status_code == status, result.text
        assert result.json["code"] == code
        assert field in result.json["message"]
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0
            assert conn.execute(select(func.count()).select_from(contents)).scalar_one() == 0
        assert redis.llen(SEND_KEY) == 0

    return check


# -- POST /v1/messages: validation ------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{not json", b'{"messages": [', b"\xff\xfe", b"[" * 100_000],
                         ids=["syntax", "truncated", "not-utf8", "too-deep"])
def test_body_that_is_not_json_is_rejected(post, assert_rejected, body):
    assert_rejected(post(body=body), 400, "invalid_json", "JSON")


def test_empty_body_is_rejected(post, assert_rejected):
    assert_rejected(post(body=b""), 400, "invalid_json", "body")


def test_body_without_messages_is_rejected(post, assert_rejected):
    assert_rejected(post(body=b"{}"), 400, "missing_field", "messages")


def test_empty_messages_list_is_rejected(post, assert_rejected):
    assert_rejected(post(), 400, "empty", "messages")


@pytest.mark.parametrize("body", [
    {"messages": [item(scheduleAt="2030-01-01T09:00:00Z")]},
    {"messages": [item()], "scheduleAt": "2030-01-01T09:00:00Z"},
], ids=["in-item", "top-level"])
def test_unknown_field_is_rejected(post, assert_rejected, body):
    assert_rejected(post(body=json.dumps(body)), 400, "unknown_field", "scheduleAt")


def test_item_without_topic_id_is_rejected(post, assert_rejected):
    assert_rejected(post(item(topicId=None)), 400, "missing_field", "messages[0].topicId")


def test_item_with_no_emails_is_rejected(post, assert_rejected):
    assert_rejected(post(item(emails=[])), 400, "empty", "messages[0].emails")


@pytest.mark.parametrize("bad", [
    "plainaddress", "a b@example.com", "a@example", "a@example.com.", "a.@example.com",
    "a..b@example.com", "a@@example.com", "@example.com", "", "Name <a@example>",
    "a@example.com\r\nBcc: x@evil.com", "<a@example.com\n>", "홍길동 <a@example.com>\nBcc: x@y.z",
])
def test_invalid_recipient_address_is_rejected(post, assert_rejected, bad):
    result = post(item(emails=["ok@example.com", bad]))
    assert_rejected(result, 400, "invalid_email", "messages[0].emails[1]")


def test_recipient_with_a_display_name_is_accepted_as_its_address(post, engine):
    # aws-ses-sender-go checked each address with Go's net/mail.ParseAddress.
    result = post(item(emails=["홍길동 <hong@example.com>", '"Kim, Y." <kim@example.com>']))
    assert result.status_code == 200, result.text
    assert [m["email"] for m in result.json["messages"]] == ["hong@example.com",
                                                            "kim@example.com"]


def test_recipient_in_angle_brackets_is_accepted(post, engine):
    result = post(item(emails=["<a@example.com>"]))
    assert result.status_code == 200, result.text
    assert [m["email"] for m in result.json["messages"]] == ["a@example.com"]
    with engine.connect() as conn:
        assert conn.execute(select(messages.c.to_addr)).scalars().all() == ["a@example.com"]


@pytest.mark.parametrize(("bad", "code"), [
    ("Hi\r\nBcc: x@evil.com", "header_injection"), ("Hi\nthere", "header_injection"),
    ("Hi\rthere", "header_injection"), ("Hi\u2028there", "header_injection"),
    # NUL is refused in every text field of a body, before the subject's own check.
    ("Hi\x00", "invalid_character"),
])
def test_line_break_in_subject_is_rejected(post, assert_rejected, bad, code):
    assert_rejected(post(item(subject=bad)), 400, code, "messages[0].subject")


@pytest.mark.parametrize("bad", ["t1\r\nX-Evil: 1", "t1\n"])
def test_line_break_in_topic_id_is_rejected(post, assert_rejected, bad):
    assert_rejected(post(item(topicId=bad)), 400, "header_injection", "messages[0].topicId")


@pytest.mark.parametrize("field", ["from", "replyTo"])
@pytest.mark.parametrize("bad", ["me@example.com\r\nBcc: x@evil.com", "Me <me@example.com>\n",
                                 "not-an-address", "me@example"])
def test_bad_from_or_reply_to_is_rejected(post, assert_rejected, field, bad):
    assert_rejected(post(item(**{field: bad})), 400, "invalid_email", f"messages[0].{field}")


def test_empty_subject_is_rejected(post, assert_rejected):
    assert_rejected(post(item(subject="")), 400, "empty", "messages[0].subject")


def test_empty_content_is_rejected(post, assert_rejected):
    assert_rejected(post(item(content="")), 400, "empty", "messages[0].content")


@pytest.mark.parametrize("field", ["content", "text"])
def test_nul_character_in_body_text_is_rejected(post, assert_rejected, field):
    result = post(item(**{field: "Hello\x00"}))
    assert_rejected(result, 400, "invalid_character", f"messages[0].{field}")


@pytest.mark.parametrize("naive", ["2030-01-01T09:00:00", "2030-01-01"])
def test_scheduled_at_without_timezone_is_rejected(post, assert_rejected, naive):
    result = post(item(scheduledAt=naive))
    assert_rejected(result, 400, "missing_timezone", "messages[0].scheduledAt")


@pytest.mark.parametrize("bad", ["tomorrow", "2030-13-01T09:00:00Z", 123, 1.5e9, True,
                                 {"at": "2030-01-01T09:00:00Z"}])
def test_scheduled_at_that_is_not_a_time_is_rejected(post, assert_rejected, bad):
    result = post(item(scheduledAt=bad))
    assert_rejected(result, 400, "invalid_datetime", "messages[0].scheduledAt")


def test_empty_scheduled_at_means_now_as_the_go_client_sends_it(post, engine):
    result = post(item(scheduledAt=""))
    assert result.status_code == 200, result.text
    assert result.json["messages"][0]["status"] == "queued"  # due now: enqueued at once


@pytest.mark.parametrize(("name", "bad"), [("tracking", "yes"), ("tracking", 1),
                                           ("bulk", "true"), ("bulk", 0)])
def test_flags_must_be_json_booleans(post, assert_rejected, name, bad):
    assert_rejected(post(item(**{name: bad})), 400, "bool_type", f"messages[0].{name}")


def test_too_many_recipients_across_items_is_rejected(settings, make_client, post,
                                                      assert_rejected):
    client = make_client(changed(settings, max_recipients_per_request=3))
    result = post(item(emails=["a@example.com", "b@example.com"]),
                  item(emails=["c@example.com", "d@example.com"]), client=client)
    assert_rejected(result, 413, "too_many_recipients", "recipients")


def test_body_over_size_limit_is_rejected(settings, make_client, post, assert_rejected):
    client = make_client(changed(settings, max_body_bytes=1024))
    result = post(item(content="x" * 2000), client=client)
    assert_rejected(result, 413, "body_too_large", "body")


def test_bad_item_after_good_item_stores_nothing(post, assert_rejected):
    result = post(item(), item(emails=["not-an-address"]))
    assert_rejected(result, 400, "invalid_email", "messages[1].emails[0]")


def test_sender_outside_key_domains_is_rejected(engine, post, assert_rejected):
    with engine.begin() as conn:
        _, plain = create_key(conn, "restricted", ["Allowed.com"])
    result = post(item(**{"from": "me@allowed.com"}), item(**{"from": "me@other.com"}),
                  headers={"x-api-key": plain})
    assert_rejected(result, 403, "sender_not_allowed", "messages[1].from")


def test_sender_in_key_domains_is_accepted(engine, post):
    with engine.begin() as conn:
        _, plain = create_key(conn, "restricted", ["allowed.com"])
    result = post(item(**{"from": "Me <me@ALLOWED.com>"}), headers={"x-api-key": plain})
    assert result.status_code == 200, result.text


def test_missing_from_without_default_from_is_rejected(settings, make_client, post,
                                                       assert_rejected):
    client = make_client(changed(settings, default_from=None))
    result = post(item(), client=client)
    assert_rejected(result, 400, "missing_field", "messages[0].from")


# -- authentication ---------------------------------------------------------------------------


def test_request_without_api_key_is_unauthorized(post, assert_rejected):
    assert_rejected(post(item(), headers={}), 401, "missing_api_key", "x-api-key")


def test_unknown_api_key_is_unauthorized(post, assert_rejected):
    result = post(item(), headers={"x-api-key": "mp_not-a-key"})
    assert_rejected(result, 401, "invalid_api_key", "API key")


def test_revoked_api_key_is_unauthorized(engine, api_key, post, assert_rejected):
    with engine.begin() as conn:
        assert revoke_key(conn, api_key[0].id)
    assert_rejected(post(item()), 401, "invalid_api_key", "API key")


# -- accepting and reading messages -----------------------------------------------------------


def test_due_message_is_queued_and_enqueued(post, redis):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    result = post(item(emails=["a@example.com", "b@example.com"]), item(scheduledAt=past))
    assert result.status_code == 200, result.text
    assert {m["status"] for m in result.json["messages"]} == {"queued"}
    ids = [m["id"] for m in result.json["messages"]]
    assert sorted(enqueued_ids(redis)) == sorted(ids)


def test_future_message_is_created_and_not_enqueued(post, client, headers, redis):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    result = post(item(scheduledAt=later))
    assert result.status_code == 200, result.text
    [created] = result.json["messages"]
    assert (created["status"], created["statusCode"]) == ("created", 0)
    assert not redis.exists(SEND_KEY)
    shown = client.simulate_get(f"/v1/messages/{created['id']}", headers=headers).json
    assert shown["status"] == "created"
    assert datetime.fromisoformat(shown["scheduledAt"]) == datetime.fromisoformat(later)


def test_same_address_in_different_case_creates_one_message(post, engine):
    result = post(item(emails=["a@example.com", "A@Example.COM", "<a@example.com>"]))
    assert result.status_code == 200, result.text
    assert result.json["count"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 1


def test_message_shows_status_and_attempts(post, client, headers, engine):
    [posted] = post(item()).json["messages"]
    url = f"/v1/messages/{posted['id']}"
    shown = client.simulate_get(url, headers=headers).json
    assert (shown["status"], shown["attempts"], shown["to"]) == ("queued", 0, "a@example.com")
    with engine.begin() as conn:
        claim_for_sending(conn, [posted["id"]], worker_id="test", lease=60)
    shown = client.simulate_get(url, headers=headers).json
    assert (shown["status"], shown["statusCode"], shown["attempts"]) == ("sending", 1, 1)


def test_message_of_another_key_is_not_found(engine, post, client):
    [posted] = post(item()).json["messages"]
    with engine.begin() as conn:
        _, other = create_key(conn, "other", [])
    result = client.simulate_get(f"/v1/messages/{posted['id']}", headers={"x-api-key": other})
    assert result.status_code == 404
    assert result.json["code"] == "message_not_found"


@pytest.mark.parametrize("message_id", ["12345", "-1", "99999999999999999999"])
def test_unknown_message_id_is_not_found(client, headers, message_id):
    result = client.simulate_get(f"/v1/messages/{message_id}", headers=headers)
    assert result.status_code == 404, result.text
    assert result.json["code"]


def test_topic_total_equals_sum_of_status(post, client, headers):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    post(item(emails=["a@example.com", "b@example.com"]),
         item(emails=["c@example.com"], scheduledAt=later), item(topicId="other"))
    topic = client.simulate_get("/v1/topics/t1", headers=headers).json
    assert topic["status"] == {"queued": 2, "created": 1}
    assert topic["total"] == sum(topic["status"].values()) == 3


# -- sent counts, health, unknown routes ------------------------------------------------------


@pytest.mark.parametrize("hours", ["0", "169", "abc", "-1", "1.5", "", "²"])
def test_sent_count_rejects_hours_out_of_range(client, headers, hours):
    result = client.simulate_get("/v1/events/counts/sent", headers=headers,
                                 query_string=f"hours={hours}")
    assert result.status_code == 400, result.text
    assert result.json["code"] == "invalid_parameter"
    assert "hours" in result.json["message"]


def test_sent_count_counts_messages_sent_within_the_hours(settings, engine, post, client,
                                                          headers):
    ids = [m["id"] for m in post(item(emails=["a@example.com", "b@example.com"]))
           .json["messages"]]
    with engine.begin() as conn:
        claim_for_sending(conn, ids, worker_id="test", lease=60)
    now = time.time()
    record_outcomes(engine, OutcomeBatch((
        Outcome(ids[0], 1, OutcomeKind.SENT, now, provider_message_id="p1"),
        Outcome(ids[1], 1, OutcomeKind.SENT, now - 48 * 3600, provider_message_id="p2"),
    )), max_attempts=settings.max_attempts)
    result = client.simulate_get("/v1/events/counts/sent", headers=headers,
                                 query_string="hours=24")
    assert result.status_code == 200, result.text
    assert {**result.json, "since": None} == {"hours": 24, "since": None, "count": 1}
    since = datetime.fromisoformat(result.json["since"])
    assert abs((datetime.now(UTC) - since) - timedelta(hours=24)) < timedelta(minutes=1)


def test_health_needs_no_api_key(client):
    result = client.simulate_get("/health")
    assert result.status_code == 200, result.text
    assert result.json["database"] == "ok"
    assert result.json["redis"] == "ok"


def test_unknown_route_is_json_404(client, headers):
    result = client.simulate_get("/v1/nothing-here", headers=headers)
    assert result.status_code == 404
    assert result.json["code"] == "not_found"
