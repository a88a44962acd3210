"""CSV uploads in the charsets Korean offices save: detected or named, through every API
entry point (campaign body, campaign form, list); bad bytes refused with their line."""

from __future__ import annotations

import codecs

import pytest
from sqlalchemy import text
from urllib3 import encode_multipart_formdata

from tests.support.csv_files import office_files, undecodable

TEXT = "email,name,city\r\nhong@example.com,홍길동,서울\r\nsam@example.com,삼번,부산\r\n"
FILES = office_files(TEXT)
#: Line 4 holds 0xFF, a lead byte in no candidate charset.
BAD = undecodable(TEXT)
NAMES = ["홍길동", "삼번"]


@pytest.fixture
def template_id(client, headers):
    answer = client.simulate_post("/v1/templates", headers=headers, json={
        "name": "news", "subject": "{{name}}", "html": "<p>{{name}} in {{city}}</p>"})
    return answer.json["id"]


def _fields(template_id: int) -> dict:
    return {"name": "June", "templateId": str(template_id), "topicId": "june"}


def campaign_names(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT variables->>'name' FROM campaign_recipients "
                                      "ORDER BY seq")).scalars())


def nothing_stored(engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT (SELECT count(*) FROM campaigns) + "
                                 "(SELECT count(*) FROM recipient_lists)")).scalar_one() == 0


def post_body(client, headers, template_id, body, content_type="text/csv", **params):
    return client.simulate_post("/v1/campaigns", body=body,
                                headers={**headers, "content-type": content_type},
                                params={**_fields(template_id), **params})


def post_form(client, headers, template_id, body, part_type="text/csv", charset=None):
    parts = list(_fields(template_id).items()) + ([("charset", charset)] if charset else [])
    form, content_type = encode_multipart_formdata(parts + [("recipients", ("r.csv", body,
                                                                          part_type))])
    return client.simulate_post("/v1/campaigns", body=form,
                                headers={**headers, "content-type": content_type})


@pytest.mark.parametrize("post", [post_body, post_form], ids=["body", "form"])
@pytest.mark.parametrize("name", FILES)
def test_campaign_csv_in_each_charset_is_detected(client, headers, template_id, engine,
                                                  post, name):
    answer = post(client, headers, template_id, FILES[name])
    assert answer.status_code == 201, answer.text
    assert campaign_names(engine) == NAMES


@pytest.mark.parametrize("name", FILES)
def test_list_csv_in_each_charset_is_detected(client, headers, engine, name):
    answer = client.simulate_post("/v1/lists", body=FILES[name], params={"name": "명단"},
                                  headers={**headers, "content-type": "text/csv"})
    assert answer.status_code == 201, answer.text
    shown = client.simulate_get(f"/v1/lists/{answer.json['id']}", headers=headers).json
    assert [r["name"] for r in shown["recipients"]] == NAMES


@pytest.mark.parametrize("how", ["query", "content-type", "form"])
def test_a_named_charset_is_used_strictly(client, headers, template_id, engine, how):
    def send(body, charset):
        if how == "query":
            return post_body(client, headers, template_id, body, charset=charset)
        if how == "form":
            return post_form(client, headers, template_id, body, charset=charset)
        return post_body(client, headers, template_id, body, f"text/csv; charset={charset}")

    wrong = send(FILES["cp949"], "utf-8")
    assert (wrong.status_code, wrong.json["code"]) == (400, "undecodable_csv")
    assert wrong.json["message"].startswith("line 2: ")
    assert nothing_stored(engine)
    right = send(FILES["euc-kr"], "euc-kr")
    assert right.status_code == 201, right.text
    assert campaign_names(engine) == NAMES


def test_the_charset_parameter_wins_over_the_content_type(client, headers, template_id, engine):
    answer = post_body(client, headers, template_id, FILES["cp949"],
                       "text/csv; charset=utf-8", charset="cp949")
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("entry", ["body", "form", "list"])
def test_undecodable_bytes_are_refused_with_their_line(client, headers, template_id, engine,
                                                       entry):
    if entry == "body":
        answer = post_body(client, headers, template_id, BAD)
    elif entry == "form":
        answer = post_form(client, headers, template_id, BAD)
    else:
        answer = client.simulate_post("/v1/lists", body=BAD, params={"name": "명단"},
                                      headers={**headers, "content-type": "text/csv"})
    assert answer.status_code == 400, answer.text
    assert answer.json["code"] == "undecodable_csv"
    assert answer.json["message"].startswith("line 4: bytes ff")
    assert answer.json["errors"] == [{"line": 4, "charset": "cp949"}]
    assert "\ufffd" not in answer.text
    assert nothing_stored(engine)


@pytest.mark.parametrize("charset,codec,bom", [(None, "utf-8", True), ("utf-8", "utf-8", True),
                                               ("cp949", "cp949", False),
                                               ("euc-kr", "cp949", False)])
def test_listing_csv_export_reads_back_in_its_charset(client, headers, charset, codec, bom):
    sent = client.simulate_post("/v1/messages", headers=headers, json={"messages": [{
        "topicId": "여름행사", "emails": ["hong@example.com", "sam@example.com"],
        "subject": "안내", "content": "<p>안녕하세요</p>"}]})
    assert sent.status_code == 200, sent.text
    params = {"topicId": "여름행사", "format": "csv", **({"charset": charset} if charset else {})}
    answer = client.simulate_get("/v1/messages", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.content.startswith(codecs.BOM_UTF8) == bom
    assert answer.headers["content-type"] == (
        "text/csv; charset=" + ("utf-8" if codec == "utf-8" else "euc-kr"))
    rows = answer.content.decode(codec + ("-sig" if bom else "")).splitlines()
    assert rows[0].startswith("id,email,status")
    assert sorted(r.split(",")[1] for r in rows[1:]) == ["hong@example.com", "sam@example.com"]
    assert all(",여름행사," in r for r in rows[1:])


def test_listing_csv_export_in_an_unknown_charset_is_400(client, headers):
    answer = client.simulate_get("/v1/messages", headers=headers,
                                 params={"topicId": "t", "format": "csv", "charset": "latin-1"})
    assert (answer.status_code, answer.json["code"]) == (400, "invalid_charset")
