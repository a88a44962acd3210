"""The one error handler's backstop: input the checks missed but the database or a codec
refuses is a logged 400 with a stable code, never a 500."""

from __future__ import annotations

import logging

import falcon
import falcon.testing
import pytest
from sqlalchemy import text

from services.api import errors


@pytest.fixture
def client(engine):
    class Storing:
        def on_get(self, req, resp):
            with engine.connect() as conn:  # the real database refuses it
                conn.execute(text("SELECT CAST(:v AS bigint)"), {"v": req.get_param("v")})

        def on_post(self, req, resp):
            "\ud800".encode()

    app = falcon.App()
    errors.install(app)
    app.add_route("/x", Storing())
    return falcon.testing.TestClient(app)


@pytest.mark.parametrize("value", ["99999999999999999999", "not a number"])
def test_a_value_the_database_refuses_is_a_logged_400(client, caplog, value):
    with caplog.at_level(logging.WARNING, logger="mailpipe.api"):
        answer = client.simulate_get("/x", params={"v": value})
    assert answer.status_code == 400, answer.text
    assert answer.json["code"] == "invalid_value"
    assert value not in answer.json["message"]  # no bound values in the answer
    assert "past the checks" in caplog.text


def test_text_that_cannot_be_encoded_is_a_logged_400(client, caplog):
    with caplog.at_level(logging.WARNING, logger="mailpipe.api"):
        answer = client.simulate_post("/x")
    assert answer.status_code == 400
    assert answer.json["code"] == "invalid_text"
    assert "past the checks" in caplog.text
