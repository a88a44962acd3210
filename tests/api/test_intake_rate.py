"""Intake rate limiting: a key past its request budget gets 429 with Retry-After."""

from __future__ import annotations

import falcon.testing

from services.api.app import ApiDeps, create_app
from tests.support.settings import changed


def client_for(settings, engine, broker, redis, **limits):
    settings = changed(settings, **limits)
    return falcon.testing.TestClient(create_app(ApiDeps(settings, engine, broker, redis)))


def test_key_over_its_budget_gets_429_with_retry_after(settings, engine, broker, redis,
                                                       api_key):
    client = client_for(settings, engine, broker, redis, intake_rate=1.0, intake_burst=3)
    headers = {"x-api-key": api_key[1]}
    codes = [client.simulate_get("/v1/topics/t", headers=headers).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]
    limited = client.simulate_get("/v1/topics/t", headers=headers)
    assert limited.json["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 2


def test_budgets_are_per_key(settings, engine, broker, redis, api_key):
    from shared.db.keys import create_key

    client = client_for(settings, engine, broker, redis, intake_rate=1.0, intake_burst=1)
    with engine.begin() as conn:
        _, other = create_key(conn, "other", [])
    assert client.simulate_get("/v1/topics/t", headers={"x-api-key": api_key[1]}).status_code \
        == 200
    assert client.simulate_get("/v1/topics/t", headers={"x-api-key": other}).status_code == 200


def test_public_endpoints_are_not_limited(settings, engine, broker, redis):
    client = client_for(settings, engine, broker, redis, intake_rate=1.0, intake_burst=1)
    assert {client.simulate_get("/health").status_code for _ in range(5)} == {200}


def test_biz_sends_are_charged_to_the_key_they_act_as(settings, engine, broker, redis, api_key):
    from tests.api.test_biz_api import SPEC_JSON

    # No sender runs: each accepted send answers 202 (code 200, pending) after a short wait.
    client = client_for(settings, engine, broker, redis, intake_rate=1.0, intake_burst=3,
                        biz_api_key=api_key[1], max_sync_wait=0.1)
    answers = [client.simulate_post("/email/send", json=SPEC_JSON) for _ in range(5)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 2
    # The same budget as the native API's: that key's next native request is refused too.
    headers = {"x-api-key": api_key[1]}
    assert client.simulate_get("/v1/topics/t", headers=headers).status_code == 429


def test_fureweb_sends_are_charged_to_the_key_in_the_body(settings, engine, broker, redis):
    from shared.db.keys import create_key
    from tests.api.test_sync_sends import mail

    with engine.begin() as conn:
        _, key = create_key(conn, "fureweb", ["fureweb.com"])
    client = client_for(settings, engine, broker, redis, intake_rate=1.0, intake_burst=3)
    answers = [client.simulate_post("/api/mail", json=mail(key)) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[-1].json["code"] == 429
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 2


def _bad_key_statuses(client, n: int, peer: str = "198.51.100.7") -> list[int]:
    return [client.simulate_get("/v1/topics/t", headers={"x-api-key": f"wrong-{i}"},
                                remote_addr=peer).status_code for i in range(n)]


def test_failed_authentications_are_limited_per_address_before_any_lookup(
        settings, engine, broker, redis, api_key):
    from shared.db.engine import make_engine
    from shared.runtime.localservers import free_port

    client = client_for(settings, engine, broker, redis, auth_failure_rate=0.5,
                        auth_failure_burst=3)
    assert _bad_key_statuses(client, 5) == [401, 401, 401, 429, 429]
    limited = client.simulate_get("/v1/topics/t", headers={"x-api-key": "wrong"},
                                  remote_addr="198.51.100.7")
    assert limited.json["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    # Refused before the lookup: an app whose database is unreachable still answers 429.
    down = make_engine(f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x")
    limited_settings = changed(settings, auth_failure_rate=0.5, auth_failure_burst=3)
    down_client = falcon.testing.TestClient(
        create_app(ApiDeps(limited_settings, down, broker, redis)))
    assert _bad_key_statuses(down_client, 1) == [429]
    # Another address has its own budget; Biz and fureweb share the address's budget.
    assert _bad_key_statuses(client, 1, peer="203.0.113.5") == [401]
    from tests.api.test_sync_sends import mail

    fureweb = client.simulate_post("/api/mail", json=mail("wrong"), remote_addr="198.51.100.7")
    assert fureweb.status_code == 429 and fureweb.json["code"] == 429


def test_good_keys_are_not_charged_as_failures(settings, engine, broker, redis, api_key):
    client = client_for(settings, engine, broker, redis, auth_failure_rate=0.5,
                        auth_failure_burst=2)
    headers = {"x-api-key": api_key[1]}
    assert {client.simulate_get("/v1/topics/t", headers=headers, remote_addr="198.51.100.7"
                                ).status_code for _ in range(6)} == {200}


def test_a_key_with_its_own_intake_rate_is_held_to_it(settings, engine, broker, redis):
    """The fleet allows 50/s in bursts of 100; a key set to 1/s gets bursts of 2 (the
    same two seconds' worth), over HTTP as any producer sees it."""
    from shared.db.keys import KeySettings, change_key, create_key

    client = client_for(settings, engine, broker, redis, intake_rate=50.0, intake_burst=100)
    with engine.begin() as conn:
        _, slow = create_key(conn, "slow", [], intake_rate=1.0)
        fast_key, fast = create_key(conn, "fast", [])
    statuses = [client.simulate_get("/v1/topics/t", headers={"x-api-key": slow}).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    refused = client.simulate_get("/v1/topics/t", headers={"x-api-key": slow})
    assert "budget of 1 requests per second (bursts of 2)" in refused.json["message"]
    assert {client.simulate_get("/v1/topics/t", headers={"x-api-key": fast}).status_code
            for _ in range(10)} == {200}
    # Changed later (the console, mailpipe keys change): the next request is held to it.
    with engine.begin() as conn:
        change_key(conn, fast_key.id, KeySettings("fast", (), None, 1.0))
    statuses = [client.simulate_get("/v1/topics/t", headers={"x-api-key": fast}).status_code
                for _ in range(3)]
    assert 429 in statuses


def test_a_keys_last_use_is_written_once_a_minute(settings, engine, broker, redis, api_key):
    from sqlalchemy import event

    from shared.db.keys import get_key

    client = client_for(settings, engine, broker, redis)
    writes: list[str] = []

    def listener(conn, cursor, statement, *args) -> None:
        if statement.lstrip().startswith("UPDATE api_keys SET last_used_at"):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        for _ in range(5):
            client.simulate_get("/v1/topics/t", headers={"x-api-key": api_key[1]})
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(writes) == 1
    with engine.connect() as conn:
        assert get_key(conn, api_key[0].id).last_used_at is not None
