"""``/v1/suppressions``: each key manages its own list."""

from __future__ import annotations

import pytest

from shared.db.keys import create_key


def test_added_addresses_are_listed_lower_cased_and_removable(client, headers):
    answer = client.simulate_post("/v1/suppressions", headers=headers,
                                  json={"emails": ["B@Example.com", "a@example.com"]})
    assert answer.status_code == 200, answer.text
    assert answer.json == {"added": ["a@example.com", "b@example.com"], "alreadySuppressed": []}
    again = client.simulate_post("/v1/suppressions", headers=headers,
                                 json={"emails": ["b@example.com", "c@example.com"]})
    assert again.json == {"added": ["c@example.com"], "alreadySuppressed": ["b@example.com"]}

    listed = client.simulate_get("/v1/suppressions", headers=headers).json
    assert [s["email"] for s in listed["suppressions"]] == [
        "a@example.com", "b@example.com", "c@example.com"]
    assert {s["reason"] for s in listed["suppressions"]} == {"manual"}
    one = client.simulate_get("/v1/suppressions/B@example.com", headers=headers)
    assert one.status_code == 200 and one.json["email"] == "b@example.com"

    assert client.simulate_delete("/v1/suppressions/B@EXAMPLE.com",
                                  headers=headers).status_code == 204
    assert client.simulate_delete("/v1/suppressions/b@example.com",
                                  headers=headers).status_code == 404
    assert client.simulate_get("/v1/suppressions/b@example.com",
                               headers=headers).status_code == 404


def test_list_pages_by_address(client, headers):
    client.simulate_post("/v1/suppressions", headers=headers,
                         json={"emails": [f"u{i}@example.com" for i in range(5)]})
    first = client.simulate_get("/v1/suppressions", headers=headers, params={"limit": "2"}).json
    assert [s["email"] for s in first["suppressions"]] == ["u0@example.com", "u1@example.com"]
    rest = client.simulate_get("/v1/suppressions", headers=headers,
                               params={"limit": "10", "after": first["next"]}).json
    assert [s["email"] for s in rest["suppressions"]] == [f"u{i}@example.com" for i in (2, 3, 4)]
    assert rest["next"] is None


def test_one_keys_list_is_invisible_to_another(client, headers, engine):
    client.simulate_post("/v1/suppressions", headers=headers, json={"emails": ["a@example.com"]})
    with engine.begin() as conn:
        _, other = create_key(conn, "other", [])
    other_headers = {"x-api-key": other}
    assert client.simulate_get("/v1/suppressions", headers=other_headers).json[
        "suppressions"] == []
    assert client.simulate_delete("/v1/suppressions/a@example.com",
                                  headers=other_headers).status_code == 404


@pytest.mark.parametrize("body,code", [
    ({}, "missing_field"), ({"emails": []}, "empty"), ({"emails": ["not an address"]},
                                                       "invalid_email"),
    ({"emails": ["a@example.com"], "extra": 1}, "unknown_field"),
])
def test_invalid_bodies_are_rejected_and_add_nothing(client, headers, body, code):
    answer = client.simulate_post("/v1/suppressions", headers=headers, json=body)
    assert answer.status_code == 400 and answer.json["code"] == code
    assert client.simulate_get("/v1/suppressions", headers=headers).json["suppressions"] == []


def test_suppressions_need_an_api_key(client):
    assert client.simulate_get("/v1/suppressions").status_code == 401


def test_additions_and_removals_are_audited_as_the_calling_key(client, headers, api_key,
                                                               engine):
    from shared.db.audit import entries

    key = api_key[0]
    client.simulate_post("/v1/suppressions", headers=headers, remote_addr="198.51.100.9",
                         json={"emails": ["Gone@example.com"]})
    client.simulate_delete("/v1/suppressions/gone@example.com", headers=headers,
                           remote_addr="198.51.100.9")
    with engine.connect() as conn:
        log = [e for e in entries(conn, action="suppression.", limit=10)
               if e.actor == f"key {key.id} ({key.name})"][:2]
    assert [(e.action, e.target, e.actor_kind, e.address) for e in log] == [
        ("suppression.remove", "gone@example.com", "api", "198.51.100.9"),
        ("suppression.add", "gone@example.com", "api", "198.51.100.9")]
    assert log[1].after["addresses"] == ["gone@example.com"]
