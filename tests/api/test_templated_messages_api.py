"""``POST /v1/messages`` with ``templateId``: values checked at request time, rendered at send."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from sqlalchemy import func, select, text

from services.sender.batch import send_batch
from shared.broker.payloads import SendBatch
from shared.db.tables import contents, messages
from tests.support.pump import sender_deps


@pytest.fixture
def template_id(client, headers):
    result = client.simulate_post("/v1/templates", headers=headers, json={
        "name": "order", "subject": "{{이름}}님, 주문 {{order}}",
        "html": "<p>{{이름}}: {{note}}</p>", "text": "{{이름}}: {{note}}"})
    return result.json["id"]


def item(template_id: int, **fields) -> dict:
    return {"topicId": "t", "emails": ["kim@example.com", "lee@example.com"],
            "templateId": template_id, **fields}


def stored(engine) -> int:
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(messages)).scalar_one()
                + conn.execute(select(func.count()).select_from(contents)).scalar_one())


def test_each_recipient_is_sent_its_own_values(client, headers, template_id, settings,
                                                engine, broker, redis):
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [item(
        template_id, variables={"order": 17, "note": "<fragile>"},
        recipientVariables={"KIM@example.com": {"이름": "김민수"}, "lee@example.com": {
            "이름": "이영희", "note": "leave at door"}},
    )]})
    assert result.status_code == 200, result.text
    ids = [m["id"] for m in result.json["messages"]]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT to_addr, variables FROM messages ORDER BY id")).all()
    assert rows[0].variables == {"이름": "김민수", "order": "17", "note": "<fragile>"}

    send_batch(sender_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    sent = {}
    for path in settings.file_dir.glob("*.eml"):
        mime = message_from_bytes(path.read_bytes(), policy=policy.default)
        sent[mime["To"]] = mime
    assert sent["kim@example.com"]["Subject"] == "김민수님, 주문 17"
    assert "<p>김민수: &lt;fragile&gt;</p>" in sent["kim@example.com"].get_body(
        ("html",)).get_content()
    assert "이영희: leave at door" in sent["lee@example.com"].get_body(("plain",)).get_content()


def test_missing_value_is_refused_naming_recipient_and_variable(client, headers, template_id,
                                                                  engine, redis):
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [item(
        template_id, variables={"order": 1, "note": "n"},
        recipientVariables={"kim@example.com": {"이름": "김민수"}})]})
    assert result.status_code == 400
    assert result.json["code"] == "missing_variable"
    assert result.json["message"] == (
        "messages[0]: recipient lee@example.com has no value for variable '이름'")
    assert stored(engine) == 0
    assert redis.llen("dramatiq:mailpipe.send") == 0


def test_a_template_item_takes_no_subject_or_content(client, headers, template_id):
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [item(
        template_id, subject="Hi")]})
    assert result.status_code == 400
    assert (result.json["code"], result.json["field"]) == ("template_conflict",
                                                           "messages[0].subject")


def test_without_a_template_subject_and_content_are_required(client, headers):
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [
        {"topicId": "t", "emails": ["a@example.com"], "content": "<p>x</p>"}]})
    assert (result.json["code"], result.json["field"]) == ("missing_field",
                                                           "messages[0].subject")
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [
        {"topicId": "t", "emails": ["a@example.com"], "subject": "s", "content": "<p>x</p>",
         "variables": {"a": "b"}}]})
    assert (result.json["code"], result.json["field"]) == ("template_required",
                                                           "messages[0].variables")


def test_unknown_template_and_unknown_recipient_are_refused(client, headers, template_id,
                                                             engine):
    result = client.simulate_post("/v1/messages", headers=headers,
                                  json={"messages": [item(template_id + 1000)]})
    assert (result.status_code, result.json["code"]) == (400, "template_not_found")
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [item(
        template_id, variables={"이름": "x", "order": 1, "note": "n"},
        recipientVariables={"park@example.com": {"이름": "박"}})]})
    assert (result.status_code, result.json["code"]) == (400, "unknown_recipient")
    assert stored(engine) == 0


def test_a_message_keeps_the_version_it_was_created_with(client, headers, template_id,
                                                          settings, engine, broker, redis):
    values = {"이름": "김", "order": 1, "note": "n"}
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [item(
        template_id, emails=["kim@example.com"], variables=values)]})
    client.simulate_put(f"/v1/templates/{template_id}", headers=headers, json={
        "name": "order", "subject": "v2 {{이름}}", "html": "<p>v2</p>"})
    send_batch(sender_deps(settings, engine, broker, redis),
               SendBatch((result.json["messages"][0]["id"],)))
    [path] = settings.file_dir.glob("*.eml")
    mime = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert mime["Subject"] == "김님, 주문 1"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT template_version FROM contents")).scalar_one() == 1
