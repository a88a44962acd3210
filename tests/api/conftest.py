"""The API under test: the real falcon app on the suite's PostgreSQL and Redis."""

from __future__ import annotations

import falcon.testing
import pytest

from services.api.app import ApiDeps, create_app


@pytest.fixture
def make_client(engine, broker, redis):
    """A test client for the app built with the given settings."""
    def make(settings):
        return falcon.testing.TestClient(create_app(ApiDeps(settings, engine, broker, redis)))

    return make


@pytest.fixture
def client(settings, make_client):
    return make_client(settings)


@pytest.fixture
def headers(api_key):
    return {"x-api-key": api_key[1]}
