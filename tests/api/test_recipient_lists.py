"""Saved recipient lists: stored whole or not at all, read back, scoped to their key."""

from __future__ import annotations

from sqlalchemy import text

from services.scheduler.expand import expand_step
from shared.db.keys import create_key


def _stored(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(text("SELECT count(*) FROM recipient_lists")).scalar_one(),
                conn.execute(text("SELECT count(*) FROM recipient_list_rows")).scalar_one())


def test_json_list_is_stored_with_duplicates_folded_and_read_back(client, headers):
    answer = client.simulate_post("/v1/lists", headers=headers, json={
        "name": "VIP 고객", "recipients": [
            {"email": "kim@example.com", "이름": "김민수", "등급": "골드"},
            {"email": "lee@EXAMPLE.com", "이름": "이영희"},
            {"email": "kim@Example.com", "이름": "중복"},
            "park@example.com"]})
    assert answer.status_code == 201, answer.text
    created = answer.json
    assert (created["total"], created["duplicates"]) == (3, 1)
    assert created["columns"] == ["이름", "등급"]
    # No template (the console's grid sets one); saved once, when it was created.
    assert (created["templateId"], created["updatedAt"]) == (None, created["createdAt"])
    assert answer.headers["location"] == f"/v1/lists/{created['id']}"

    shown = client.simulate_get(f"/v1/lists/{created['id']}", headers=headers).json
    assert shown["recipients"] == [
        {"email": "kim@example.com", "이름": "김민수", "등급": "골드"},
        {"email": "lee@example.com", "이름": "이영희", "등급": ""},
        {"email": "park@example.com", "이름": "", "등급": ""}]
    listed = client.simulate_get("/v1/lists", headers=headers).json["lists"]
    assert [item["id"] for item in listed] == [created["id"]]


def test_csv_list_takes_its_columns_from_the_header(client, headers):
    body = "\ufeffemail,name,city\r\na@example.com,Ann,Seoul\r\nb@example.com,Bo,Busan\r\n"
    answer = client.simulate_post("/v1/lists", params={"name": "from sheets"},
                                  headers={**headers, "content-type": "text/csv"},
                                  body=body.encode())
    assert answer.status_code == 201, answer.text
    assert (answer.json["columns"], answer.json["total"]) == (["name", "city"], 2)


def test_one_bad_row_refuses_the_list_naming_every_bad_row(client, headers, engine):
    before = _stored(engine)
    answer = client.simulate_post("/v1/lists", headers=headers, json={
        "name": "bad", "recipients": [{"email": "ok@example.com"}, {"email": "nope"},
                                      {"email": "x@example.com", "n": {"nested": 1}}]})
    assert answer.status_code == 400
    assert answer.json["code"] == "invalid_recipients"
    assert [(d["index"], d["code"]) for d in answer.json["errors"]] == [
        (1, "invalid_email"), (2, "invalid_value")]
    assert _stored(engine) == before


def test_lists_belong_to_their_key_and_can_be_deleted(client, headers, engine):
    created = client.simulate_post("/v1/lists", headers=headers, json={
        "name": "mine", "recipients": ["a@example.com"]}).json
    with engine.begin() as conn:
        _, other = create_key(conn, "other", [])
    url = f"/v1/lists/{created['id']}"
    assert client.simulate_get(url, headers={"x-api-key": other}).status_code == 404
    assert client.simulate_delete(url, headers={"x-api-key": other}).status_code == 404
    assert client.simulate_delete(url, headers=headers).status_code == 204
    assert client.simulate_get(url, headers=headers).status_code == 404
    assert _stored(engine) == (0, 0)


def _template(client, headers) -> int:
    return client.simulate_post("/v1/templates", headers=headers, json={
        "name": "안내", "subject": "{{이름}}님께", "html": "<p>{{이름}}님, {{등급}} 혜택</p>"}
    ).json["id"]


def test_a_campaign_names_a_saved_list_and_gets_its_rows(client, headers, engine, settings,
                                                         broker):
    listed = client.simulate_post("/v1/lists", headers=headers, json={
        "name": "VIP", "recipients": [{"email": "kim@example.com", "이름": "김", "등급": "골드"},
                                       {"email": "lee@example.com", "이름": "이", "등급": "실버"}]}
    ).json
    answer = client.simulate_post("/v1/campaigns", headers=headers, json={
        "name": "12월", "templateId": _template(client, headers), "topicId": "dec",
        "listId": listed["id"]})
    assert answer.status_code == 201, answer.text
    assert answer.json["total"] == 2
    while expand_step(engine, broker, settings):
        pass
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT to_addr, variables FROM messages ORDER BY to_addr")).all()
    assert [(r.to_addr, r.variables) for r in rows] == [
        ("kim@example.com", {"이름": "김", "등급": "골드"}),
        ("lee@example.com", {"이름": "이", "등급": "실버"})]


def test_a_list_that_does_not_fit_the_template_is_refused_by_row(client, headers, engine):
    listed = client.simulate_post("/v1/lists", headers=headers, json={
        "name": "short", "recipients": [{"email": "a@example.com", "이름": "에이", "등급": ""},
                                        {"email": "b@example.com", "이름": "비", "등급": "골드"}]}
    ).json
    before = _campaigns(engine)
    answer = client.simulate_post("/v1/campaigns", headers=headers, json={
        "name": "n", "templateId": _template(client, headers), "topicId": "t",
        "listId": listed["id"]})
    assert answer.status_code == 400, answer.text
    assert answer.json["code"] == "invalid_recipients"
    assert [e["row"] for e in answer.json["errors"]] == [1]
    assert "등급" in answer.json["errors"][0]["message"]
    assert _campaigns(engine) == before


def test_a_list_without_a_column_for_a_variable_is_refused_once(client, headers, engine):
    listed = client.simulate_post("/v1/lists", headers=headers, json={
        "name": "no grade", "recipients": [{"email": f"{n}@example.com", "이름": n}
                                           for n in ("a", "b", "c", "d", "e")]}).json
    before = _campaigns(engine)
    answer = client.simulate_post("/v1/campaigns", headers=headers, json={
        "name": "n", "templateId": _template(client, headers), "topicId": "t",
        "listId": listed["id"]})
    assert answer.status_code == 400, answer.text
    assert (answer.json["code"], answer.json["field"]) == ("missing_column", "등급")
    assert answer.json["message"] == "the list has no column for template variable '등급'"
    assert "errors" not in answer.json  # one answer for the column, not one per row
    assert _campaigns(engine) == before


def test_campaign_list_source_must_be_one_and_exist(client, headers):
    template_id = _template(client, headers)
    base = {"name": "n", "templateId": template_id, "topicId": "t"}
    both = client.simulate_post("/v1/campaigns", headers=headers, json={
        **base, "listId": 1, "recipients": ["a@example.com"]})
    assert both.status_code == 400 and both.json["field"] == "recipients"
    neither = client.simulate_post("/v1/campaigns", headers=headers, json=base)
    assert neither.status_code == 400 and neither.json["code"] == "missing_field"
    missing = client.simulate_post("/v1/campaigns", headers=headers,
                                   json={**base, "listId": 999999})
    assert missing.status_code == 404 and missing.json["code"] == "list_not_found"


def _campaigns(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM campaigns")).scalar_one()
