"""Intake rate limiting: a key past its request budget gets 429 with Retry-After."""

from __future__ import annotations

import falcon.testing

from services.api.app import ApiDeps, create_app


def client_for(settings, engine, broker, redis, **limits):
    settings = settings.model_copy(update=limits)
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
