"""SendBulkEmail through boto3 over HTTP (the suite's SES endpoint, tests/support/fake_ses.py):
one call per content, per-entry outcomes, whole-call failures, the rate's cap on entries,
and every entry delivering exactly what mailpipe would have sent that recipient alone."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from services.sender.batch import send_batch
from services.sender.pacing import SPLIT_LEAST
from shared.broker.payloads import OutcomeKind, SendBatch
from shared.db.claims import claim_for_sending
from shared.rendering.compose import Composer
from shared.rendering.tracking import Tracker
from shared.settings import load_settings
from tests.scheduler.test_dispatch import make_messages
from tests.support.fake_ses import delivered
from tests.support.pump import ses_deps


def kinds(result) -> list[OutcomeKind]:
    return [o.kind for o in result.outcomes]


def test_messages_sharing_a_content_go_in_one_call_each_sent_with_its_entry_id(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 5)
    result = send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert len(fake_ses.bulk_calls) == 1
    assert len(fake_ses.bulk_calls[0]["BulkEmailEntries"]) == 5
    assert kinds(result) == [OutcomeKind.SENT] * 5
    bulk_ids = [a["MessageId"] for a in fake_ses.accepted if a.get("Bulk")]
    assert [o.provider_message_id for o in result.outcomes] == bulk_ids
    assert [a["Destination"]["ToAddresses"] for a in fake_ses.accepted] == [
        [f"r{i}@example.com"] for i in range(5)]


def test_a_rejected_entry_fails_with_ses_reason_and_the_others_are_sent(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 4)
    fake_ses.entry_script.extend([("SUCCESS", ""), ("MESSAGE_REJECTED", "Illegal address"),
                                  ("ACCOUNT_THROTTLED", "Slow down")])
    sends = lambda outcome: REGISTRY.get_sample_value(  # noqa: E731
        "mailpipe_sends_total", {"transport": "ses", "outcome": outcome}) or 0
    before = {o: sends(o) for o in ("sent", "failed", "throttled")}
    result = send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert kinds(result) == [OutcomeKind.SENT, OutcomeKind.FAILED, OutcomeKind.RETRY,
                             OutcomeKind.SENT]
    # Counted in mailpipe_sends_total per entry's outcome (the sent ones once per call).
    assert {o: sends(o) - n for o, n in before.items()} == {"sent": 2, "failed": 1,
                                                             "throttled": 1}
    assert "MESSAGE_REJECTED" in result.outcomes[1].error
    assert "Illegal address" in result.outcomes[1].error


@pytest.mark.parametrize(("answer", "kind"), [
    ("throttle", OutcomeKind.RETRY),       # throttled call: every entry back to queued
    ("error500", OutcomeKind.UNKNOWN),     # ambiguous call: every entry unknown
    ("reject", OutcomeKind.FAILED),        # refused call: every entry failed
])
def test_a_call_failing_whole_decides_every_entry_alike(
    settings, engine, broker, redis, api_key, fake_ses, answer, kind
):
    ids = make_messages(engine, api_key[0].id, 4)
    fake_ses.script.append(answer)
    result = send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert fake_ses.requests == 1 and fake_ses.accepted == []
    assert kinds(result) == [kind] * 4


def test_a_call_carries_no_more_recipients_than_the_fleet_may_send_in_half_a_second(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 40)
    result = send_batch(ses_deps(settings, engine, broker, redis, rate=60),
                        SendBatch(tuple(ids)))
    assert kinds(result) == [OutcomeKind.SENT] * 40
    sizes = [len(c["BulkEmailEntries"]) for c in fake_ses.bulk_calls]
    assert sizes and max(sizes) <= 30


def test_below_the_bulk_rate_every_message_goes_alone(
    settings, engine, broker, redis, api_key, fake_ses
):
    # At the seeds' EMAIL_RATE=14 the CPU does not limit, and calls of uneven
    # sizes would wait for SES's sliding second: single sends keep 98% of R.
    ids = make_messages(engine, api_key[0].id, 5)
    result = send_batch(ses_deps(settings, engine, broker, redis, rate=14),
                        SendBatch(tuple(ids)))
    assert kinds(result) == [OutcomeKind.SENT] * 5
    assert fake_ses.bulk_calls == [] and len(fake_ses.accepted) == 5


def test_a_call_sends_only_rows_this_sender_claimed(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 6)
    with engine.begin() as conn:  # another sender holds two of them
        claim_for_sending(conn, ids[2:4], worker_id="elsewhere", lease=60)
    result = send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert sorted(o.message_id for o in result.outcomes) == ids[:2] + ids[4:]
    sent_to = {a["Destination"]["ToAddresses"][0] for a in fake_ses.accepted}
    assert sent_to == {"r0@example.com", "r1@example.com", "r4@example.com", "r5@example.com"}


def templated(engine, ids: list[int], subject: str, html: str, values: list[dict],
              **content) -> None:
    """Make ``ids``' content a template with those parts and each row its values."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE contents SET subject = :s, html = :h, template_version = 1, "
                          "tracking = :t, bulk = :b WHERE id = (SELECT content_id FROM messages "
                          "WHERE id = :id)"),
                     {"s": subject, "h": html, "id": ids[0], "t": content.get("tracking", True),
                      "b": content.get("bulk", False)})
        for message_id, row in zip(ids, values, strict=True):
            conn.execute(text("UPDATE messages SET variables = CAST(:v AS jsonb) WHERE id = :id"),
                         {"v": json.dumps(row), "id": message_id})


@pytest.fixture
def tracked_settings(settings):
    return load_settings(**{**settings.model_dump(), "secret_key": "bulk-secret",
                            "public_url": "https://mail.example"}, _env_file=None)


def test_each_entry_delivers_what_mailpipe_renders_for_that_recipient(
    tracked_settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 4)
    html = ("<html><body><style>a { color: red }</style><p>Hi {{name}}, {{{ city }}}!</p>"
            "<a href='https://shop.example/sale?a=1&amp;b=2'>sale</a> "
            "<a href=\"mailto:help@shop.example\">help</a></body></html>")
    templated(engine, ids, "Sale for {{name}}", html,
              [{"name": f"Ann{i}", "city": "Seoul"} for i in range(4)], bulk=True)
    with engine.connect() as conn:
        rows = {m.id: m for m in claim_for_sending(conn, ids, worker_id="x", lease=1)}
        conn.rollback()  # only to read what the sender will claim
    send_batch(ses_deps(tracked_settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert len(fake_ses.bulk_calls) == 1
    tracker = Tracker("bulk-secret", "https://mail.example")
    for sent in fake_ses.accepted:
        got = delivered(sent)
        message = rows[int(got["headers"]["X-Mailpipe-Id"])]
        want = Composer().compose(message, tracker)
        assert (got["subject"], got["html"], got["text"]) == (want.subject, want.html, want.text)
        assert dict(want.headers) == {k: got["headers"][k] for k in dict(want.headers)}
    bulk_entries = fake_ses.bulk_calls[0]["BulkEmailEntries"]
    unsubscribe = {h["Value"] for e in bulk_entries for h in e["ReplacementHeaders"]
                   if h["Name"] == "List-Unsubscribe"}
    assert len(unsubscribe) == 4  # its own link for every entry


def test_a_recipient_whose_values_ses_would_escape_goes_by_itself(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 4)
    templated(engine, ids, "Hello {{name}}", "<p>{{name}}</p>",
              [{"name": "Ann"}, {"name": "Bob"}, {"name": "O'Brien"}, {"name": "Cy"}])
    send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    [call] = fake_ses.bulk_calls
    assert [e["Destination"]["ToAddresses"] for e in call["BulkEmailEntries"]] == [
        ["r0@example.com"], ["r1@example.com"], ["r3@example.com"]]
    [alone] = [delivered(a) for a in fake_ses.accepted if not a.get("Bulk")]
    assert (alone["subject"], alone["html"]) == ("Hello O'Brien", "<p>O&#x27;Brien</p>")


def test_a_content_ses_would_read_otherwise_goes_one_by_one(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 3)
    with engine.begin() as conn:  # a backslash before "{{": Handlebars' escape
        conn.execute(text("UPDATE contents SET html = :h"), {"h": "<p>\\{{not a tag}}</p>"})
    send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert fake_ses.bulk_calls == []
    assert {delivered(a)["html"] for a in fake_ses.accepted} == {"<p>\\{{not a tag}}</p>"}


def test_literal_braces_and_helpers_in_a_content_reach_every_entry_as_written(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 3)
    html = "<p>{{#if x}}{{> partial}}{{{raw}}} {{name}}</p>"
    with engine.begin() as conn:
        conn.execute(text("UPDATE contents SET html = :h, subject = :h"), {"h": html})
    send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert len(fake_ses.bulk_calls) == 1
    assert {delivered(a)["html"] for a in fake_ses.accepted} == {html}
    assert {delivered(a)["subject"] for a in fake_ses.accepted} == {html}


def test_a_content_with_a_header_ses_takes_only_raw_goes_one_by_one(
    settings, engine, broker, redis, api_key, fake_ses
):
    ids = make_messages(engine, api_key[0].id, 3)
    with engine.begin() as conn:  # a caller's header with a non-ASCII value
        conn.execute(text("""UPDATE contents SET headers = '[["X-Note", "한글 메모"]]'"""))
    result = send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert kinds(result) == [OutcomeKind.SENT] * 3
    assert fake_ses.bulk_calls == [] and len(fake_ses.accepted) == 3


def test_a_call_carries_what_its_sliding_second_has_room_for_and_the_next_the_rest(
    settings, engine, broker, redis, api_key, fake_ses
):
    deps = ses_deps(settings, engine, broker, redis, rate=60)  # a second holds 60.9
    for _ in range(52):  # other senders' single sends fill the next second but 8
        deps.limiter.reserve(1)
    ids = make_messages(engine, api_key[0].id, 12)
    result = send_batch(deps, SendBatch(tuple(ids)))
    assert kinds(result) == [OutcomeKind.SENT] * 12
    # 8 at the bucket's slot rather than all 12 a second later; the other 4
    # as the singles leave their sliding second, SPLIT_LEAST or more at a time.
    calls = [len(c["BulkEmailEntries"]) for c in fake_ses.bulk_calls]
    assert calls[0] == 8 and sum(calls) == 12
    assert all(SPLIT_LEAST <= n <= 4 for n in calls[1:])
    assert sorted(a["Destination"]["ToAddresses"][0] for a in fake_ses.accepted) == sorted(
        f"r{i}@example.com" for i in range(12))
