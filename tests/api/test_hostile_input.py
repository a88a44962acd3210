"""Hostile and careless input (issue 12, items 4, 5, 6, 8, 9): each input the probe
found is a 4xx whose code and field say what is wrong, and nothing is stored or queued.

Native routes answer ``{code, message, field}``; the Biz routes answer their own
``{"code": "410"|"422", ...}`` and fureweb ``{"code": 400, ...}``.
"""

from __future__ import annotations

import base64

import pytest
from urllib3 import encode_multipart_formdata

from shared.db.keys import create_key
from tests.support.hostile import AsciiJsonClient, footprint
from tests.support.settings import changed

#: Every character ``str.splitlines()`` breaks a line at, besides CR and LF.
LINE_BREAKS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r", "\n"]
BAD_TEXT = ["\x00", "\ud800", "a\udfffb"]


@pytest.fixture
def client(settings, make_client, api_key):
    return AsciiJsonClient(make_client(changed(
        settings, biz_api_key=api_key[1], secret_key="s" * 32, tenant_smtp_private=False,
        default_from="nexus@nexus.co.kr")))


@pytest.fixture
def fureweb_key(engine):
    with engine.begin() as conn:
        return create_key(conn, "fureweb", ["fureweb.com"])[1]


@pytest.fixture
def template_id(client, headers):
    answer = client.simulate_post("/v1/templates", headers=headers, json={
        "name": "news", "subject": "{{name}}, the news", "html": "<p>{{name}} {{city}}</p>"})
    assert answer.status_code == 201, answer.text
    return answer.json["id"]


@pytest.fixture
def unchanged(engine, redis, template_id):
    """Call after a request: asserts it stored and queued nothing."""
    before = footprint(engine, redis)

    def check() -> None:
        assert footprint(engine, redis) == before

    return check


def message(**fields) -> dict:
    return {"messages": [{"topicId": "t", "emails": ["a@example.net"], "subject": "s",
                          "content": "<p>c</p>", **fields}]}


def native_refusal(answer, field: str | None = None, status: int = 400) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json
    assert set(body) >= {"code", "message"} and body["code"]
    if field is not None:
        assert body.get("field") == field, body
    return body


# -- 4: whole-value patterns --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Bcc\n", "X-Tag\n", "bcc\r\n", "X-Tag\x00", "X-\u2028Tag",
                                  "X Tag", "X:Tag", ""])
def test_header_names_with_a_trailing_newline_or_junk_are_refused(client, headers, unchanged,
                                                                  name):
    answer = client.simulate_post("/v1/messages", headers=headers,
                                  json=message(headers={name: "victim@evil.example"}))
    body = native_refusal(answer)
    assert body["field"].startswith("messages[0].headers")
    unchanged()


@pytest.mark.parametrize(("attachment", "code"), [
    ({"contentId": "logo\n@x"}, "invalid_content_id"),
    ({"contentId": "logo@x\r\nBcc: a@evil.example"}, "invalid_content_id"),
    ({"contentType": "image/png\nBcc: a@evil.example"}, "invalid_content_type"),
])
def test_attachment_ids_and_types_must_be_whole(client, headers, unchanged, attachment, code):
    item = {"filename": "a.png", "content": "aGk=", **attachment}
    answer = client.simulate_post("/v1/messages", headers=headers,
                                  json=message(attachments=[item]))
    assert native_refusal(answer)["code"] == code
    unchanged()


def test_reply_id_with_a_trailing_newline_is_refused(client, unchanged):
    answer = client.simulate_post("/email/send", json={
        "to": "<a@nexus.co.kr>", "subject": "s", "reply_id": "<abc@example.com>\n"})
    assert answer.json["code"] == "410", answer.text
    unchanged()


# -- 5: every splitlines boundary is a line break --------------------------------------------

@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_line_break_in_a_subject_is_refused(client, headers, unchanged, brk):
    answer = client.simulate_post("/v1/messages", headers=headers,
                                  json=message(subject=f"a{brk}Bcc: x@evil.example"))
    assert native_refusal(answer, "messages[0].subject")["code"] in (
        "header_injection", "invalid_character")
    unchanged()


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_line_break_in_a_header_value_is_refused(client, headers, unchanged, brk):
    answer = client.simulate_post("/v1/messages", headers=headers,
                                  json=message(headers={"X-Tag": f"a{brk}b"}))
    native_refusal(answer, "messages[0].headers.X-Tag")
    unchanged()


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_line_break_in_a_template_subject_variable_is_refused(client, headers, template_id,
                                                              unchanged, brk):
    item = {"topicId": "t", "emails": ["a@example.net"], "templateId": template_id,
            "variables": {"name": f"a{brk}b", "city": "Seoul"}}
    answer = client.simulate_post("/v1/messages", headers=headers, json={"messages": [item]})
    body = native_refusal(answer)
    assert "name" in body["message"]
    unchanged()


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_line_break_in_a_campaign_value_used_in_the_subject_is_refused(
    client, headers, template_id, unchanged, brk,
):
    answer = client.simulate_post("/v1/campaigns", headers=headers, json={
        "name": "June", "templateId": template_id, "topicId": "june",
        "recipients": [{"email": "a@example.net", "name": f"a{brk}b", "city": "Seoul"}]})
    body = native_refusal(answer)
    assert body["errors"][0]["field"] == "name"
    unchanged()


@pytest.mark.parametrize("brk", ["\x0b", "\x1c", "\x85", "\u2028"])
def test_line_break_in_a_csv_campaign_value_is_refused(client, headers, template_id, unchanged,
                                                       brk):
    csv = f"email,name,city\na@example.net,a{brk}b,Seoul\n".encode()
    answer = client.simulate_post(
        "/v1/campaigns", headers={**headers, "content-type": "text/csv; charset=utf-8"},
        params={"name": "June", "templateId": str(template_id), "topicId": "june"}, body=csv)
    native_refusal(answer)
    unchanged()


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_line_break_in_a_biz_subject_is_410(client, unchanged, brk):
    answer = client.simulate_post("/email/send", json={"to": "<a@nexus.co.kr>",
                                                       "subject": f"a{brk}b"})
    assert answer.status_code == 200 and answer.json["code"] == "410", answer.text
    assert "subject" in answer.json["message"]
    unchanged()


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_line_break_in_a_fureweb_title_is_400(client, fureweb_key, unchanged, brk):
    answer = client.simulate_post("/api/mail", json={
        "key": fureweb_key, "from": "noreply@fureweb.com", "to": ["a@example.net"],
        "title": f"a{brk}b", "content": "<p>c</p>"})
    assert answer.status_code == 400 and answer.json["code"] == 400, answer.text
    assert "title" in answer.json["message"]
    unchanged()


# -- 8: NUL and lone surrogates --------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/topics/a%00b", "/v1/suppressions/a%00b@x"])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_nul_in_a_path_is_400(client, headers, unchanged, path, method):
    answer = client.simulate_request(method, path, headers=headers)
    assert native_refusal(answer, "path")["code"] == "invalid_character"
    unchanged()


@pytest.mark.parametrize("query", ["after=%00", "email=%00", "email=a%00b@x", "limit=1&after=a%00"])
def test_nul_in_a_query_value_is_400(client, headers, unchanged, query):
    answer = client.simulate_get("/v1/suppressions", headers=headers, query_string=query)
    body = native_refusal(answer)
    assert body["code"] == "invalid_character" and body["field"] in ("after", "email")
    unchanged()


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize(("fields", "field"), [
    ({"content": "<p>{}</p>"}, "messages[0].content"),
    ({"text": "{}"}, "messages[0].text"),
    ({"subject": "{}"}, "messages[0].subject"),
    ({"topicId": "t{}"}, "messages[0].topicId"),
    ({"headers": {"X-Tag": "{}"}}, "messages[0].headers.X-Tag"),
    ({"attachments": [{"filename": "a{}.txt", "content": "aGk="}]},
     "messages[0].attachments[0].filename"),
])
def test_nul_or_lone_surrogate_in_a_message_field_is_400(client, headers, unchanged, bad,
                                                         fields, field):
    filled = {k: _fill(v, bad) for k, v in fields.items()}
    answer = client.simulate_post("/v1/messages", headers=headers, json=message(**filled))
    assert native_refusal(answer, field)["code"] == "invalid_character"
    unchanged()


def _fill(value, bad: str):
    if isinstance(value, str):
        return value.replace("{}", bad)
    if isinstance(value, dict):
        return {k: _fill(v, bad) for k, v in value.items()}
    return [_fill(v, bad) for v in value]


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_nul_or_lone_surrogate_in_a_template_is_400(client, headers, unchanged, bad):
    for body, field in (({"name": "n", "subject": "s", "html": f"<p>{bad}</p>"}, "html"),
                        ({"name": f"n{bad}", "subject": "s", "html": "<p/>"}, "name"),
                        ({"name": "n", "subject": "s", "html": "<p/>", "text": bad}, "text")):
        answer = client.simulate_post("/v1/templates", headers=headers, json=body)
        assert native_refusal(answer, field)["code"] == "invalid_character"
    unchanged()


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_nul_or_lone_surrogate_in_template_values_is_400(client, headers, template_id,
                                                         unchanged, bad):
    item = {"topicId": "t", "emails": ["a@example.net"], "templateId": template_id,
            "variables": {"name": "n", "city": f"S{bad}"}}
    answer = client.simulate_post("/v1/messages", headers=headers, json={"messages": [item]})
    native_refusal(answer, "messages[0].variables.city")
    render = client.simulate_post(f"/v1/templates/{template_id}/render", headers=headers,
                                  json={"variables": {"name": bad}})
    native_refusal(render, "variables.name")
    unchanged()


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_nul_or_lone_surrogate_in_campaign_values_is_400(client, headers, template_id,
                                                         unchanged, bad):
    answer = client.simulate_post("/v1/campaigns", headers=headers, json={
        "name": "June", "templateId": template_id, "topicId": "june",
        "recipients": [{"email": "a@example.net", "name": "n", "city": f"S{bad}"}]})
    native_refusal(answer, "recipients[0].city")
    unchanged()


def test_escape_charsets_cannot_smuggle_a_surrogate_into_a_csv(client, headers, template_id,
                                                              unchanged):
    csv = b"email,name,city\na@example.net,n,S\\ud800\n"
    for charset in ("raw_unicode_escape", "unicode_escape"):
        answer = client.simulate_post(
            "/v1/campaigns", headers={**headers, "content-type": f"text/csv; charset={charset}"},
            params={"name": "June", "templateId": str(template_id), "topicId": "june"}, body=csv)
        native_refusal(answer, "charset")
    unchanged()


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize("field", ["subject", "body", "from", "smtp_url", "user", "cc"])
def test_nul_or_lone_surrogate_in_a_biz_field_is_refused_with_its_code(client, unchanged, bad,
                                                                       field):
    # The spec's code for the field (smtp_url 422, user 421), else 410.
    expected = {"smtp_url": "422", "user": "421"}.get(field, "410")
    body = {"to": "<a@nexus.co.kr>", "subject": "s", "body": "b", field: f"x{bad}y"}
    answer = client.simulate_post("/email/send", json=body)
    assert answer.status_code == 200 and answer.json["code"] == expected, answer.text
    assert field in answer.json["message"]
    unchanged()


def test_nul_in_a_biz_form_smtp_url_is_422(client, unchanged):
    body, content_type = encode_multipart_formdata([
        ("smtp_url", "smtp://mail.nexus\x00.co.kr:587"), ("user", "u@nexus.co.kr"),
        ("password", "p"), ("ssl", "true"), ("to", "<a@nexus.co.kr>"), ("subject", "s")])
    answer = client.simulate_post("/email/multipart/tenant/send", body=body,
                                  headers={"content-type": content_type})
    assert answer.json["code"] == "422", answer.text
    unchanged()


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize("field", ["title", "content"])
def test_nul_or_lone_surrogate_in_a_fureweb_field_is_400(client, fureweb_key, unchanged, bad,
                                                         field):
    body = {"key": fureweb_key, "from": "noreply@fureweb.com", "to": ["a@example.net"],
            "title": "t", "content": "<p>c</p>", field: f"x{bad}y"}
    answer = client.simulate_post("/api/mail", json=body)
    assert answer.status_code == 400 and answer.json["code"] == 400, answer.text
    assert field in answer.json["message"]
    unchanged()


# -- 9: numbers beyond BIGINT, charsets that are not text ------------------------------------

@pytest.mark.parametrize("value", [2**63, 10**20])
def test_template_id_beyond_bigint_is_400(client, headers, unchanged, value):
    item = {"topicId": "t", "emails": ["a@example.net"], "templateId": value}
    answer = client.simulate_post("/v1/messages", headers=headers, json={"messages": [item]})
    native_refusal(answer, "messages[0].templateId")
    campaign = client.simulate_post("/v1/campaigns", headers=headers, json={
        "name": "June", "templateId": value, "topicId": "june",
        "recipients": [{"email": "a@example.net"}]})
    native_refusal(campaign, "templateId")
    unchanged()


@pytest.mark.parametrize("version", [10**20, 2**63, 2**31])
def test_render_version_beyond_its_column_is_400(client, headers, template_id, unchanged,
                                                 version):
    answer = client.simulate_post(f"/v1/templates/{template_id}/render", headers=headers,
                                  json={"variables": {"name": "n", "city": "c"},
                                        "version": version})
    assert native_refusal(answer, "version")["code"] == "less_than_equal"
    unchanged()


@pytest.mark.parametrize("charset", ["utf-16", "utf-32", "punycode", "rot13", "base64", "zlib",
                                     "hex", "bz2", "idna", "undefined", "nope", "utf-8\x00"])
def test_csv_charset_that_is_not_a_text_encoding_is_400(client, headers, template_id,
                                                        unchanged, charset):
    csv = b"email,name,city\na@example.net,n,Seoul\n"
    answer = client.simulate_post(
        "/v1/campaigns", headers={**headers, "content-type": f"text/csv; charset={charset}"},
        params={"name": "June", "templateId": str(template_id), "topicId": "june"}, body=csv)
    body = native_refusal(answer)
    assert body["code"] in ("invalid_charset", "invalid_csv", "missing_column", "undecodable_csv",
                            "invalid_character"), body
    unchanged()


@pytest.mark.parametrize("charset", ["utf-16", "punycode", "rot13", "base64", "zlib"])
def test_form_csv_part_charset_that_is_not_a_text_encoding_is_400(client, headers, template_id,
                                                                  unchanged, charset):
    body, content_type = encode_multipart_formdata([
        ("name", "June"), ("templateId", str(template_id)), ("topicId", "june"),
        ("recipients", ("r.csv", b"email,name,city\na@example.net,n,Seoul\n",
                        f"text/csv; charset={charset}"))])
    answer = client.simulate_post("/v1/campaigns", body=body,
                                  headers={**headers, "content-type": content_type})
    native_refusal(answer)
    unchanged()


# -- 6: a tenant server that is not public is refused at request time -------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "[::127.0.0.1]", "[::ffff:169.254.169.254]",
                                  "[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::1]", "10.1.2.3",
                                  "[::1]", "localhost"])
@pytest.mark.parametrize("path", ["/email/send", "/email/tenant/send"])
def test_biz_tenant_server_on_a_private_address_is_422(client, unchanged, host, path):
    answer = client.simulate_post(path, json={
        "smtp_url": f"smtp://{host}:587", "user": "u@nexus.co.kr", "password": "p",
        "ssl": True, "to": "<a@nexus.co.kr>", "subject": "s"})
    assert answer.status_code == 200 and answer.json["code"] == "422", answer.text
    assert "not a public address" in answer.json["message"]
    unchanged()


# -- issue 23: file names no header can carry, refused at intake at every door ----------------

#: Control and separator characters (and bidirectional overrides, which disguise a name).
FILENAME_BREAKS = [*LINE_BREAKS, "\t", "\x01", "\x1f", "\x7f", "\x80", "\x9f", "\u202e",
                   "\u2066"]
#: Names that are only unusual: Korean, spaces, a ZWNJ (Persian), a no-break space.
GOOD_FILENAMES = ["월간 보고서.pdf", "a  b.pdf", "نامه\u200cها.pdf", "a\u00a0b.pdf",
                  "C:\\Users\\ann\\report.pdf"]


@pytest.mark.parametrize("brk", FILENAME_BREAKS)
def test_control_or_separator_in_a_native_file_name_is_400_naming_it(client, headers,
                                                                     unchanged, brk):
    files = [{"filename": "ok.txt", "content": "aGk="},
             {"filename": f"a{brk}b.txt", "content": "aGk="}]
    answer = client.simulate_post("/v1/messages", headers=headers,
                                  json=message(attachments=files))
    body = native_refusal(answer, "messages[0].attachments[1].filename")
    assert body["code"] == "invalid_filename"
    assert f"U+{ord(brk):04X}" in body["message"]
    unchanged()


@pytest.mark.parametrize("name", GOOD_FILENAMES)
def test_unusual_but_printable_native_file_names_are_accepted(client, headers, name):
    answer = client.simulate_post("/v1/messages", headers=headers, json=message(
        attachments=[{"filename": name, "content": "aGk="}]))
    assert answer.status_code == 200, answer.text


def biz_form(filename_header: bytes) -> tuple[bytes, dict]:
    """A Biz multipart send whose file part's Content-Disposition carries these bytes."""
    boundary = b"------------------------d48285772a76118d"
    out = b""
    for name, value in (("to", "<a@nexus.co.kr>"), ("subject", "s")):
        out += (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="'
                + name.encode() + b'"\r\n\r\n' + value.encode() + b"\r\n")
    out += (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="'
            + filename_header + b'"\r\nContent-Type: text/plain\r\n\r\nhi\r\n')
    out += b"--" + boundary + b"--\r\n"
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}


@pytest.mark.parametrize(("brk", "spelling"), [
    *((brk, "rfc2047") for brk in FILENAME_BREAKS),  # what Biz clients send for non-ASCII
    # As raw bytes too, but for CR and LF: those end the part's header, not a file name.
    *((brk, "utf-8") for brk in FILENAME_BREAKS if brk not in "\r\n"),
])
def test_control_or_separator_in_a_biz_file_name_is_410(client, unchanged, brk, spelling):
    name = f"a{brk}b.txt"
    if spelling == "utf-8":
        raw = name.encode()
    else:
        raw = f"=?UTF-8?B?{base64.b64encode(name.encode()).decode()}?=".encode()
    body, form_headers = biz_form(raw)
    answer = client.simulate_post("/email/multipart/send", body=body, headers=form_headers)
    assert answer.status_code == 200 and answer.json["code"] == "410", answer.text
    assert "files" in answer.json["message"] and "file name" in answer.json["message"]
    unchanged()
