"""``POST /v1/campaigns`` with an Idempotency-Key: JSON, CSV body and form upload alike."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from urllib3 import encode_multipart_formdata

CSV = b"email,name\na@example.com,A\nb@example.com,B\n"


@pytest.fixture
def template_id(client, headers):
    result = client.simulate_post("/v1/templates", headers=headers, json={
        "name": "news", "subject": "News for {{name}}", "html": "<p>{{name}}</p>"})
    return result.json["id"]


def campaigns(engine) -> tuple[int, int]:
    """(campaigns, recipients) stored."""
    with engine.connect() as conn:
        return tuple(conn.execute(text(
            "SELECT (SELECT count(*) FROM campaigns), (SELECT count(*) FROM campaign_recipients)"
        )).one())


def post_json(client, headers, template_id, key, name="June", emails=("a@example.com",)):
    body = {"name": name, "templateId": template_id, "topicId": "june",
            "recipients": [{"email": e, "name": "N"} for e in emails]}
    return client.simulate_post("/v1/campaigns", json=body,
                                headers={**headers, "Idempotency-Key": key})


def post_csv(client, headers, template_id, key, body=CSV, name="June"):
    return client.simulate_post(
        "/v1/campaigns", body=body,
        params={"name": name, "templateId": str(template_id), "topicId": "june"},
        headers={**headers, "content-type": "text/csv", "Idempotency-Key": key})


def post_form(client, headers, template_id, key, body=CSV, name="June"):
    form, content_type = encode_multipart_formdata([
        ("name", name), ("templateId", str(template_id)), ("topicId", "june"),
        ("recipients", ("list.csv", body, "text/csv")),
    ], boundary="b0undary")  # a fixed boundary: the same form, byte for byte
    return client.simulate_post("/v1/campaigns", body=form, headers={
        **headers, "content-type": content_type, "Idempotency-Key": key})


POSTS = {"json": post_json, "csv": post_csv, "form": post_form}


@pytest.mark.parametrize("kind", ["json", "csv", "form"])
def test_same_key_and_request_returns_the_first_campaign_and_creates_nothing(
        client, headers, template_id, engine, kind):
    post = POSTS[kind]
    first = post(client, headers, template_id, "k-1")
    assert first.status_code == 201, first.text
    again = post(client, headers, template_id, "k-1")
    assert again.status_code == 201
    assert again.json == first.json
    assert again.headers["location"] == first.headers["location"]
    assert campaigns(engine) == (1, first.json["total"])


def test_same_key_and_json_in_another_key_order_is_the_same_request(client, headers,
                                                                    template_id, engine):
    first = post_json(client, headers, template_id, "k-order")
    body = {"recipients": [{"name": "N", "email": "a@example.com"}], "topicId": "june",
            "templateId": template_id, "name": "June"}
    again = client.simulate_post("/v1/campaigns", json=body,
                                 headers={**headers, "Idempotency-Key": "k-order"})
    assert (again.status_code, again.json) == (201, first.json)
    assert campaigns(engine) == (1, 1)


@pytest.mark.parametrize("kind,change", [
    ("json", {"emails": ("a@example.com", "c@example.com")}),
    ("json", {"name": "July"}),
    ("csv", {"body": CSV.replace(b"B\n", b"Bee\n")}),
    ("csv", {"name": "July"}),
    ("form", {"body": CSV + b"c@example.com,C\n"}),
    ("form", {"name": "July"}),
])
def test_same_key_with_another_request_is_a_conflict(client, headers, template_id, engine,
                                                     kind, change):
    post = POSTS[kind]
    assert post(client, headers, template_id, "k-2").status_code == 201
    answer = post(client, headers, template_id, "k-2", **change)
    assert answer.status_code == 409, answer.text
    assert answer.json["code"] == "idempotency_key_reused"
    assert campaigns(engine)[0] == 1


def test_key_used_for_messages_is_a_conflict_for_campaigns(client, headers, template_id,
                                                          engine):
    sent = client.simulate_post("/v1/messages", headers={**headers, "Idempotency-Key": "k-3"},
                                json={"messages": [{"topicId": "t", "emails": ["a@example.com"],
                                                    "subject": "s", "content": "c"}]})
    assert sent.status_code == 200
    answer = post_json(client, headers, template_id, "k-3")
    assert (answer.status_code, answer.json["code"]) == (409, "idempotency_key_reused")
    assert campaigns(engine) == (0, 0)


def test_a_refused_request_leaves_its_key_free(client, headers, template_id, engine):
    bad = post_csv(client, headers, template_id, "k-4", body=b"email,name\nnot-an-address,A\n")
    assert bad.status_code == 400
    assert post_csv(client, headers, template_id, "k-4").status_code == 201
    assert campaigns(engine) == (1, 2)


@pytest.mark.parametrize("kind", ["json", "form"])
def test_concurrent_retries_with_one_key_create_the_campaign_once(client, headers, template_id,
                                                                  engine, kind):
    answers = []
    start = threading.Barrier(4)

    def send() -> None:
        start.wait()
        answers.append(POSTS[kind](client, headers, template_id, "k-5"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [201] * 4
    assert len({str(a.json) for a in answers}) == 1
    assert campaigns(engine) == (1, answers[0].json["total"])
