"""``/v1/campaigns``: creation from JSON or CSV (all or nothing), progress, pause/resume/cancel."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from urllib3 import encode_multipart_formdata

from services.scheduler.dispatch import dispatch_due
from services.scheduler.expand import expand_step
from shared.db.campaigns import HELD_UNTIL, expand_next_batch


@pytest.fixture
def template_id(client, headers):
    result = client.simulate_post("/v1/templates", headers=headers, json={
        "name": "news", "subject": "{{name}}, the news", "html": "<p>{{name}} in {{city}}</p>"})
    return result.json["id"]


def fields(template_id: int, **extra) -> dict:
    return {"name": "June", "templateId": template_id, "topicId": "june", **extra}


def post_csv(client, headers, params: dict, body: bytes, charset: str | None = None):
    content_type = "text/csv" + (f"; charset={charset}" if charset else "")
    return client.simulate_post("/v1/campaigns", headers={**headers, "content-type": content_type},
                                params={k: str(v) for k, v in params.items()}, body=body)


def counts(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(
            "SELECT (SELECT count(*) FROM campaigns), (SELECT count(*) FROM campaign_recipients),"
            " (SELECT count(*) FROM contents)")).one())


def test_json_campaign_is_stored_with_duplicates_folded_by_domain(client, headers, template_id,
                                                                   engine):
    recipients = [
        {"email": "Ann@Example.COM", "name": "Ann", "city": "Seoul"},
        {"email": "Ann@example.com", "name": "Ann again", "city": "Busan"},  # same mailbox
        {"email": "ann@example.com", "name": "ann", "city": "Jeju"},  # another local part
    ]
    result = client.simulate_post("/v1/campaigns", headers=headers,
                                  json={**fields(template_id), "recipients": recipients})
    assert result.status_code == 201, result.text
    assert (result.json["total"], result.json["duplicates"]) == (2, 1)
    assert result.json["templateVersion"] == 1 and result.json["state"] == "active"
    with engine.connect() as conn:  # campaign mail is bulk mail (List-Unsubscribe)
        assert conn.execute(text("SELECT bulk FROM contents")).scalar_one() is True
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, email, variables FROM campaign_recipients "
                                 "ORDER BY seq")).all()
    assert [(r.seq, r.email, r.variables["city"]) for r in rows] == [
        (1, "Ann@example.com", "Seoul"), (2, "ann@example.com", "Jeju")]


def test_csv_upload_creates_the_campaign(client, headers, template_id, engine):
    body = ("\ufeffemail,name,city,unused\r\n"
            "kim@example.com,김민수,서울,x\r\n"
            "\"lee@example.com\",\"Lee, Young\",\"Busan\",\r\n"
            "\r\n").encode()
    result = post_csv(client, headers, fields(template_id), body)
    assert result.status_code == 201, result.text
    assert result.json["total"] == 2
    with engine.connect() as conn:
        values = conn.execute(text("SELECT variables FROM campaign_recipients ORDER BY seq"))
        assert [v for (v,) in values] == [{"name": "김민수", "city": "서울"},
                                          {"name": "Lee, Young", "city": "Busan"}]


def test_form_upload_streams_the_recipients_part(client, headers, template_id, engine):
    body, content_type = encode_multipart_formdata([
        ("name", "Form"), ("templateId", str(template_id)), ("topicId", "form"),
        ("recipients", ("list.csv", "email,name,city\nf@example.com,에프,Seoul\n".encode(),
                        "text/csv")),
    ])
    result = client.simulate_post("/v1/campaigns", body=body,
                                  headers={**headers, "content-type": content_type})
    assert result.status_code == 201, result.text
    assert (result.json["name"], result.json["total"]) == ("Form", 1)


def test_form_upload_with_the_file_before_the_fields_is_refused(client, headers, template_id,
                                                                 engine):
    body, content_type = encode_multipart_formdata([
        ("recipients", ("list.csv", b"email,name,city\nf@example.com,F,S\n", "text/csv")),
        ("name", "Form"), ("templateId", str(template_id)), ("topicId", "form"),
    ])
    result = client.simulate_post("/v1/campaigns", body=body,
                                  headers={**headers, "content-type": content_type})
    assert (result.status_code, result.json["code"]) == (400, "missing_field")
    assert counts(engine) == (0, 0, 0)


def test_csv_in_the_declared_charset(client, headers, template_id, engine):
    body = "email,name,city\npark@example.com,박지성,수원\n".encode("euc-kr")
    result = post_csv(client, headers, fields(template_id), body, charset="EUC-KR")
    assert result.status_code == 201, result.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT variables->>'name' FROM campaign_recipients")
                            ).scalar_one() == "박지성"


def test_bad_csv_rows_are_reported_by_number_and_nothing_is_created(client, headers,
                                                                     template_id, engine):
    body = (b"email,name,city\n"
            b"ok@example.com,Ok,Seoul\n"        # row 2
            b"not-an-address,Bad,Seoul\n"       # row 3
            b"ok2@example.com,Ok,Seoul\n"       # row 4
            b"blank@example.com,,Seoul\n"       # row 5: no name
            b"short@example.com,Short\n"        # row 6: a cell missing
            b"ok3@example.com,Ok,Seoul\n")
    result = post_csv(client, headers, fields(template_id), body)
    assert result.status_code == 400
    assert result.json["code"] == "invalid_recipients"
    assert [(e["row"], e["code"]) for e in result.json["errors"]] == [
        (3, "invalid_email"), (5, "missing_variable"), (6, "wrong_cell_count")]
    assert result.json["errors"][1]["message"] == (
        "row 5: recipient blank@example.com has no value for variable 'name'")
    assert counts(engine) == (0, 0, 0)


def test_csv_without_a_column_for_a_variable_is_refused(client, headers, template_id, engine):
    result = post_csv(client, headers, fields(template_id), b"email,name\na@example.com,A\n")
    assert (result.status_code, result.json["code"]) == (400, "missing_column")
    assert "'city'" in result.json["message"]
    assert counts(engine) == (0, 0, 0)


def test_bad_json_recipients_are_reported_by_index(client, headers, template_id, engine):
    result = client.simulate_post("/v1/campaigns", headers=headers, json={
        **fields(template_id), "recipients": [
            {"email": "a@example.com", "name": "A", "city": "C"},
            {"email": "b@example.com", "name": "B", "city": {"nested": 1}}]})
    assert result.status_code == 400
    assert [(e["index"], e["code"]) for e in result.json["errors"]] == [(1, "invalid_value")]
    assert counts(engine) == (0, 0, 0)


def test_unknown_template_is_refused(client, headers, template_id):
    result = client.simulate_post("/v1/campaigns", headers=headers, json={
        **fields(template_id + 99), "recipients": [{"email": "a@example.com"}]})
    assert (result.status_code, result.json["code"]) == (400, "template_not_found")


def make_campaign(client, headers, template_id, count: int, **extra) -> dict:
    recipients = [{"email": f"r{i}@example.com", "name": f"N{i}", "city": "C"}
                  for i in range(count)]
    result = client.simulate_post("/v1/campaigns", headers=headers,
                                  json={**fields(template_id, **extra), "recipients": recipients})
    assert result.status_code == 201, result.text
    return result.json


def test_progress_counts_every_recipient(client, headers, template_id, settings, engine, broker):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = make_campaign(client, headers, template_id, 3, scheduledAt=later)
    shown = client.simulate_get(f"/v1/campaigns/{scheduled['id']}", headers=headers).json
    assert (shown["phase"], shown["total"], shown["status"]) == ("scheduled", 3, {"pending": 3})

    campaign = make_campaign(client, headers, template_id, 5, name="now")
    small = settings.model_copy(update={"expand_batch": 2})
    assert expand_step(engine, broker, small)
    shown = client.simulate_get(f"/v1/campaigns/{campaign['id']}", headers=headers).json
    assert (shown["phase"], shown["status"]) == ("expanding", {"queued": 2, "pending": 3})
    while expand_step(engine, broker, small):
        pass
    shown = client.simulate_get(f"/v1/campaigns/{campaign['id']}", headers=headers).json
    assert (shown["phase"], shown["status"], shown["expanded"]) == ("sending", {"queued": 5}, 5)


def test_pause_holds_unsent_rows_and_resume_releases_them(client, headers, template_id,
                                                          settings, engine, broker):
    campaign = make_campaign(client, headers, template_id, 4)
    small = settings.model_copy(update={"expand_batch": 2})
    expand_step(engine, broker, small)  # 2 queued
    url = f"/v1/campaigns/{campaign['id']}"
    paused = client.simulate_post(url + "/pause", headers=headers)
    assert paused.status_code == 200, paused.text
    assert (paused.json["phase"], paused.json["status"]) == ("paused",
                                                            {"created": 2, "pending": 2})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT DISTINCT due_at FROM messages")).scalar_one() == (
            HELD_UNTIL)
    assert not expand_step(engine, broker, small)  # a paused campaign is not expanded
    assert not dispatch_due(engine, broker, settings)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM messages WHERE state = 'queued'")
                            ).scalar_one() == 0
    assert client.simulate_post(url + "/pause", headers=headers).status_code == 409

    resumed = client.simulate_post(url + "/resume", headers=headers)
    assert resumed.json["state"] == "active"
    while expand_step(engine, broker, small):
        pass
    dispatch_due(engine, broker, settings)  # the 2 held rows, released
    shown = client.simulate_get(url, headers=headers).json
    assert shown["status"] == {"queued": 4}
    assert client.simulate_post(url + "/resume", headers=headers).status_code == 409


def test_cancel_stops_expansion_and_cancels_unsent_rows(client, headers, template_id, settings,
                                                        engine, broker):
    campaign = make_campaign(client, headers, template_id, 5)
    expand_step(engine, broker, settings.model_copy(update={"expand_batch": 3}))
    url = f"/v1/campaigns/{campaign['id']}"
    cancelled = client.simulate_post(url + "/cancel", headers=headers)
    assert cancelled.status_code == 200
    assert (cancelled.json["phase"], cancelled.json["total"], cancelled.json["status"]) == (
        "cancelled", 5, {"cancelled": 5})
    assert not expand_step(engine, broker, settings)
    assert client.simulate_post(url + "/cancel", headers=headers).status_code == 409
    assert client.simulate_post(url + "/resume", headers=headers).status_code == 409
    assert client.simulate_post(url + "/explode", headers=headers).status_code == 404


def queued_on_redis(redis) -> int:
    return redis.llen("dramatiq:mailpipe.send")


def message_states(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT state, count(*) FROM messages GROUP BY state")).all())


def test_cancelling_the_topic_stops_its_campaign_expanding(client, headers, template_id,
                                                           settings, engine, broker, redis):
    campaign = make_campaign(client, headers, template_id, 6)
    small = settings.model_copy(update={"expand_batch": 2, "campaign_window": 2})
    assert expand_step(engine, broker, small)
    assert not expand_step(engine, broker, small)  # the window is full: 2 queued, 4 to come
    assert message_states(engine) == {"queued": 2}
    on_redis = queued_on_redis(redis)

    answer = client.simulate_delete("/v1/topics/june", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json == {"topicId": "june", "cancelled": 2, "notCancelled": 0,
                           "notCancelledByStatus": {}, "campaignsCancelled": 1}

    # The window has room again, but the campaign is cancelled: nothing more is made or queued.
    assert not expand_step(engine, broker, small)
    assert not dispatch_due(engine, broker, settings)
    assert message_states(engine) == {"cancelled": 2}
    assert queued_on_redis(redis) == on_redis
    shown = client.simulate_get(f"/v1/campaigns/{campaign['id']}", headers=headers).json
    assert (shown["state"], shown["phase"], shown["expanded"], shown["status"]) == (
        "cancelled", "cancelled", 2, {"cancelled": 6})


def test_cancelling_a_topic_with_only_unexpanded_campaigns_cancels_them(client, headers,
                                                                       template_id, engine):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = make_campaign(client, headers, template_id, 3, scheduledAt=later)
    paused = make_campaign(client, headers, template_id, 2, name="paused")
    client.simulate_post(f"/v1/campaigns/{paused['id']}/pause", headers=headers)
    answer = client.simulate_delete("/v1/topics/june", headers=headers)
    assert (answer.status_code, answer.json["cancelled"], answer.json["campaignsCancelled"]) == (
        200, 0, 2)
    for campaign in (scheduled, paused):
        shown = client.simulate_get(f"/v1/campaigns/{campaign['id']}", headers=headers).json
        assert shown["state"] == "cancelled"
    again = client.simulate_delete("/v1/topics/june", headers=headers)
    assert (again.status_code, again.json["code"]) == (404, "topic_not_found")


def test_topic_cancelled_during_an_expansion_batch_cancels_that_batch(client, headers,
                                                                      template_id, settings,
                                                                      engine, broker):
    make_campaign(client, headers, template_id, 5)
    answers = []
    with engine.begin() as expanding:  # a scheduler in the middle of a batch
        assert expand_next_batch(expanding, batch=3, window=0, queue_timeout=60).inserted == 3
        deleting = threading.Thread(target=lambda: answers.append(
            client.simulate_delete("/v1/topics/june", headers=headers)))
        deleting.start()
        deleting.join(0.5)
        assert deleting.is_alive()  # waits for the batch to commit
    deleting.join()
    assert answers[0].json["cancelled"] == 3
    assert message_states(engine) == {"cancelled": 3}
    assert not expand_step(engine, broker, settings)


def test_progress_shows_suppressed_recipients_once_expanded(client, headers, template_id,
                                                            settings, engine, broker):
    listed = client.simulate_post("/v1/suppressions", headers=headers,
                                  json={"emails": ["r1@example.com", "r3@example.com"]})
    assert listed.status_code == 200, listed.text
    campaign = make_campaign(client, headers, template_id, 4)
    while expand_step(engine, broker, settings):
        pass
    shown = client.simulate_get(f"/v1/campaigns/{campaign['id']}", headers=headers).json
    assert (shown["phase"], shown["status"]) == ("sending", {"queued": 2, "suppressed": 2})
