"""``/v1/templates``: CRUD, versions, variables listed, render preview, scoping by key."""

from __future__ import annotations

import pytest

from shared.db.keys import create_key

TEMPLATE = {"name": "welcome", "subject": "Welcome, {{name}}",
            "html": "<p>Hello {{name}}, from {{{signature}}}</p>", "text": None}


@pytest.fixture
def created(client, headers):
    result = client.simulate_post("/v1/templates", headers=headers, json=TEMPLATE)
    assert result.status_code == 201, result.text
    return result.json


def test_created_template_lists_its_variables(created, client, headers):
    assert created["version"] == 1
    assert created["variables"] == ["name", "signature"]
    shown = client.simulate_get(f"/v1/templates/{created['id']}", headers=headers).json
    assert shown == created
    listed = client.simulate_get("/v1/templates", headers=headers).json
    assert [(t["id"], t["name"], t["variables"]) for t in listed["templates"]] == [
        (created["id"], "welcome", ["name", "signature"])
    ]
    assert "html" not in listed["templates"][0]


def test_update_adds_a_version_and_old_versions_stay_readable(created, client, headers):
    url = f"/v1/templates/{created['id']}"
    updated = client.simulate_put(url, headers=headers, json={
        **TEMPLATE, "subject": "Hi {{name}}", "html": "<p>{{name}} {{city}}</p>"})
    assert updated.status_code == 200, updated.text
    assert updated.json["version"] == 2
    assert updated.json["variables"] == ["name", "city"]
    assert client.simulate_get(url, headers=headers).json["version"] == 2
    first = client.simulate_get(url, headers=headers, params={"version": "1"}).json
    assert first["subject"] == "Welcome, {{name}}" and first["version"] == 1


def test_render_preview_escapes_values_in_html(created, client, headers):
    result = client.simulate_post(
        f"/v1/templates/{created['id']}/render", headers=headers,
        json={"variables": {"name": "<Kim & Lee>", "signature": "<i>Team</i>"}},
    )
    assert result.status_code == 200, result.text
    assert result.json == {
        "version": 1, "subject": "Welcome, <Kim & Lee>",
        "html": "<p>Hello &lt;Kim &amp; Lee&gt;, from <i>Team</i></p>",
        "text": "Hello <Kim & Lee>, from Team",  # drawn from the HTML, as sent
    }


def test_render_returns_the_text_part_as_sent_and_a_templates_own_text_wins(client, headers):
    made = client.simulate_post("/v1/templates", headers=headers, json={
        "name": "order", "subject": "주문",
        "html": '<h1>Hello {{name}}</h1><a href="https://shop.example/o/{{order}}">link</a>'})
    url = f"/v1/templates/{made.json['id']}/render"
    values = {"variables": {"name": "홍길동", "order": 12}}
    drawn = client.simulate_post(url, headers=headers, json=values)
    assert drawn.json["text"] == "Hello 홍길동\n\nlink (https://shop.example/o/12)"
    client.simulate_put(f"/v1/templates/{made.json['id']}", headers=headers, json={
        "name": "order", "subject": "주문", "html": "<p>{{name}}</p>",
        "text": "{{name}}님, 주문 {{order}}"})
    own = client.simulate_post(url, headers=headers, json=values)
    assert (own.json["version"], own.json["text"]) == (2, "홍길동님, 주문 12")


def test_render_preview_names_every_missing_variable(created, client, headers):
    result = client.simulate_post(f"/v1/templates/{created['id']}/render", headers=headers,
                                  json={"variables": {"name": "   "}})
    assert result.status_code == 400
    assert result.json["code"] == "missing_variable"
    assert "'name', 'signature'" in result.json["message"]


def test_korean_template_round_trips(client, headers):
    result = client.simulate_post("/v1/templates", headers=headers, json={
        "name": "주문 안내", "subject": "{{이름}}님의 주문",
        "html": "<p>{{이름}}님, 감사합니다</p>"})
    assert result.status_code == 201, result.text
    assert result.json["variables"] == ["이름"]
    preview = client.simulate_post(f"/v1/templates/{result.json['id']}/render",
                                   headers=headers, json={"variables": {"이름": "김민수"}})
    assert preview.json["subject"] == "김민수님의 주문"


def test_invalid_tag_is_refused_naming_part_and_line(client, headers):
    result = client.simulate_post("/v1/templates", headers=headers, json={
        **TEMPLATE, "html": "<p>ok</p>\n<p>{{first name}}</p>"})
    assert result.status_code == 400
    assert result.json["code"] == "invalid_template"
    assert result.json["field"] == "html"
    assert "line 2" in result.json["message"]


def test_name_is_unique_per_key(created, client, headers):
    again = client.simulate_post("/v1/templates", headers=headers, json=TEMPLATE)
    assert again.status_code == 409
    assert again.json["code"] == "template_name_taken"


def test_deleted_template_is_gone_and_its_name_free(created, client, headers):
    url = f"/v1/templates/{created['id']}"
    assert client.simulate_delete(url, headers=headers).status_code == 204
    assert client.simulate_get(url, headers=headers).status_code == 404
    assert client.simulate_delete(url, headers=headers).status_code == 404
    assert client.simulate_post("/v1/templates", headers=headers,
                                json=TEMPLATE).status_code == 201


def test_another_keys_template_is_not_found(created, client, engine):
    with engine.begin() as conn:
        _, other = create_key(conn, "other", [])
    result = client.simulate_get(f"/v1/templates/{created['id']}", headers={"x-api-key": other})
    assert result.status_code == 404
    assert client.simulate_get("/v1/templates", headers={"x-api-key": other}).json[
        "templates"] == []


def test_renaming_onto_another_templates_name_is_refused(created, client, headers):
    other = client.simulate_post("/v1/templates", headers=headers,
                                 json={**TEMPLATE, "name": "other"}).json
    result = client.simulate_put(f"/v1/templates/{other['id']}", headers=headers, json=TEMPLATE)
    assert (result.status_code, result.json["code"]) == (409, "template_name_taken")
    same = client.simulate_put(f"/v1/templates/{created['id']}", headers=headers, json=TEMPLATE)
    assert same.status_code == 200  # keeping its own name is fine
