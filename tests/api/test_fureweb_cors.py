"""CORS on the fureweb post: the preflight and the POST's Access-Control-Allow-Origin, for
origins on a key's domains (and subdomains) and for others (tests/api/test_fureweb_browser.py
drives a real Chromium through the same)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from shared.db.keys import create_key
from shared.db.tables import api_keys, messages
from tests.api.test_sync_sends import mail

PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}


@pytest.fixture
def fureweb_key(engine):
    with engine.begin() as conn:
        return create_key(conn, "fureweb", ["fureweb.com"])[1]


def stored(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(messages)).scalar_one()


@pytest.mark.parametrize("origin", ["https://fureweb.com", "http://www.fureweb.com:8080",
                                    "https://A.B.FUREWEB.COM"])
def test_preflight_from_a_keys_domain_or_subdomain_is_allowed(client, fureweb_key, origin):
    answer = client.simulate_options("/api/mail", headers={"Origin": origin, **PREFLIGHT})
    assert answer.status_code == 204 and answer.text == ""
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    assert answer.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert answer.headers["Access-Control-Allow-Headers"] == "content-type"
    assert int(answer.headers["Access-Control-Max-Age"]) > 0
    assert answer.headers["Vary"] == "Origin"


@pytest.mark.parametrize("origin", ["https://evil.com", "https://notfureweb.com",
                                    "https://fureweb.com.evil.com", "null", "file://",
                                    "ftp://fureweb.com", "https://fureweb.com:99999", None])
def test_preflight_from_any_other_origin_gets_no_allowance(client, fureweb_key, origin):
    headers = PREFLIGHT if origin is None else {"Origin": origin, **PREFLIGHT}
    answer = client.simulate_options("/api/mail", headers=headers)
    assert answer.status_code == 204
    assert not any(h.lower().startswith("access-control-") for h in answer.headers)


def test_preflight_for_a_revoked_or_domainless_key_gets_no_allowance(client, engine):
    with engine.begin() as conn:
        revoked, _ = create_key(conn, "old", ["old.example"])
        conn.execute(update(api_keys).where(api_keys.c.id == revoked.id)
                     .values(revoked_at=func.now()))
        create_key(conn, "any sender", [])
    for origin in ("https://old.example", "https://anything.example"):
        answer = client.simulate_options("/api/mail", headers={"Origin": origin, **PREFLIGHT})
        assert "Access-Control-Allow-Origin" not in answer.headers


def test_post_from_the_keys_domain_is_readable_there(client, fureweb_key, engine):
    origin = "https://www.fureweb.com"
    answer = client.simulate_post("/api/mail", json=mail(fureweb_key),
                                  headers={"Origin": origin})
    assert answer.json == {"code": 200, "message": "OK"}
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    assert answer.headers["Vary"] == "Origin"
    assert stored(engine) == 1


def test_post_errors_are_readable_by_a_known_origin(client, fureweb_key):
    origin = "https://fureweb.com"
    bad_key = client.simulate_post("/api/mail", json=mail("nope"), headers={"Origin": origin})
    assert bad_key.json == {"code": 406, "message": "invalid api key"}
    assert bad_key.headers["Access-Control-Allow-Origin"] == origin
    bad_field = client.simulate_post("/api/mail", json=mail(fureweb_key, title=""),
                                     headers={"Origin": origin})
    assert bad_field.status_code == 400
    assert bad_field.headers["Access-Control-Allow-Origin"] == origin


def test_post_from_another_keys_domain_is_refused_and_stores_nothing(client, fureweb_key,
                                                                     engine):
    with engine.begin() as conn:
        create_key(conn, "other site", ["other.example"])
    # other.example passes the preflight (a key names it), but not with fureweb's key.
    answer = client.simulate_post("/api/mail", json=mail(fureweb_key),
                                  headers={"Origin": "https://other.example"})
    assert answer.status_code == 403 and "origin" in answer.json["message"]
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert stored(engine) == 0


@pytest.mark.parametrize("origin", ["https://evil.com", "null"])
def test_post_from_an_unknown_origin_is_refused_and_stores_nothing(client, fureweb_key, engine,
                                                                   origin):
    # A "simple" request (text/plain) is sent without a preflight: the server refuses it.
    answer = client.simulate_post("/api/mail", body=json.dumps(mail(fureweb_key)),
                                  headers={"Origin": origin, "Content-Type": "text/plain"})
    assert answer.status_code == 403
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert stored(engine) == 0


def test_post_without_an_origin_is_unaffected(client, fureweb_key, engine):
    answer = client.simulate_post("/api/mail", json=mail(fureweb_key))
    assert answer.json["code"] == 200
    assert "Access-Control-Allow-Origin" not in answer.headers and "Vary" not in answer.headers
