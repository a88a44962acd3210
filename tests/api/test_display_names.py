"""Display names end to end (issue 25): kept from POST /v1/messages to the To header the
recipient reads, RFC 2047 encoded on the wire (file .eml, SES Simple and bulk), matched
and suppressed by the address alone, and never a way to inject a header."""

from __future__ import annotations

import base64
import csv
import io
from email import message_from_bytes, policy

import pytest
from sqlalchemy import text

from services.scheduler.expand import expand_step
from services.sender.batch import send_batch
from shared.broker.payloads import OutcomeKind, SendBatch
from shared.settings import load_settings
from tests.support.pump import sender_deps, ses_deps

NAMED = ["홍길동 <a@example.com>", '"Kim, Minsu" <m@example.com>']


def post(client, headers, emails, **fields) -> list[int]:
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [{
        "topicId": "t", "emails": emails, "subject": "안녕하세요", "content": "<p>hi</p>",
        **fields}]})
    assert result.status_code == 200, result.text
    return [m["id"] for m in result.json["messages"]]


def sent_files(settings) -> dict[str, object]:
    """Every .eml the file transport wrote, by the bare address of its To."""
    out = {}
    for path in settings.file_dir.glob("*.eml"):
        mime = message_from_bytes(path.read_bytes(), policy=policy.default)
        out[mime["To"].addresses[0].addr_spec] = mime
    return out


def test_names_reach_the_eml_to_header_decoded_and_encoded_on_the_wire(
        client, headers, settings, engine, broker, redis):
    ids = post(client, headers, NAMED, **{"from": "가게 <shop@example.com>"})
    send_batch(sender_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    sent = sent_files(settings)
    hong, kim = sent["a@example.com"], sent["m@example.com"]
    assert hong["To"].addresses[0].display_name == "홍길동"
    assert kim["To"].addresses[0].display_name == "Kim, Minsu"
    assert hong["From"].addresses[0].display_name == "가게"
    raw = next(p for p in settings.file_dir.glob("*.eml")
               if b"a@example.com" in p.read_bytes()).read_bytes()
    assert raw.isascii()  # 7-bit headers: the name as RFC 2047 encoded words
    assert b"=?utf-8?b?" in raw.split(b"\n\n")[0].lower()


def test_the_message_view_keeps_the_name_and_the_answer_the_address(client, headers):
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [{
        "topicId": "t", "emails": NAMED, "subject": "s", "content": "<p>hi</p>"}]})
    assert [m["email"] for m in result.json["messages"]] == ["a@example.com", "m@example.com"]
    first, second = (client.simulate_get(f"/v1/messages/{m['id']}", headers=headers).json
                     for m in result.json["messages"])
    assert (first["to"], first["toName"]) == ("a@example.com", "홍길동")
    assert (second["to"], second["toName"]) == ("m@example.com", "Kim, Minsu")


def test_an_address_given_twice_with_two_names_is_sent_once(client, headers, engine):
    post(client, headers, ["홍길동 <A@example.com>", "Gildong <a@example.com>", "a@example.com"])
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT to_addr, to_name FROM messages")).all()
    assert [tuple(r) for r in rows] == [("A@example.com", "홍길동")]


@pytest.mark.parametrize("bad", [
    "홍길동\r\nBcc: x@evil.example <a@example.com>",
    "\"Kim\nBcc: x@evil.example\" <a@example.com>",
    "홍\u2028길동 <a@example.com>",
    "\"홍\x07길동\" <a@example.com>",
    "Kim, Minsu <m@example.com>",          # an unquoted comma: two mailboxes, or none
    "a@example.com, b@example.com",
    "\"Kim \"Minsu\" <m@example.com>",     # an unescaped quote
])
def test_a_name_that_could_break_the_header_is_refused_naming_the_field(client, headers,
                                                                          engine, bad):
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [{
        "topicId": "t", "emails": ["ok@example.com", bad], "subject": "s",
        "content": "<p>hi</p>"}]})
    assert result.status_code == 400, result.text
    assert result.json["field"] == "messages[0].emails[1]"
    assert result.json["code"] in ("invalid_email", "invalid_display_name")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM messages")).scalar_one() == 0


@pytest.mark.parametrize("bad", ["Shop\r\nBcc: x@evil.example <news@shop.example>",
                                 "Shop\u2028 <news@shop.example>", "Shop, Inc <news@shop.example>"])
def test_a_sender_name_that_could_break_the_header_is_refused(client, headers, bad):
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [{
        "topicId": "t", "emails": ["ok@example.com"], "from": bad, "subject": "s",
        "content": "<p>hi</p>"}]})
    assert result.status_code == 400, result.text
    assert result.json["field"] == "messages[0].from"


def test_a_name_with_quotes_and_brackets_is_quoted_back_as_one_mailbox(
        client, headers, settings, engine, broker, redis):
    ids = post(client, headers, ['"A \\"B\\" <C>, D" <q@example.com>'])
    send_batch(sender_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    mime = sent_files(settings)["q@example.com"]
    [address] = mime["To"].addresses
    assert address.display_name == 'A "B" <C>, D'
    assert mime["Bcc"] is None and mime["Cc"] is None


def test_suppressing_an_address_suppresses_it_whatever_its_name(client, headers, engine):
    result = client.simulate_post("/v1/suppressions", headers=headers,
                                  json={"emails": ["A@example.com"]})
    assert result.status_code < 300, result.text
    result = client.simulate_post("/v1/messages", headers=headers, json={"messages": [{
        "topicId": "t", "emails": NAMED, "subject": "s", "content": "<p>hi</p>"}]})
    states = {m["email"]: m["status"] for m in result.json["messages"]}
    assert states == {"a@example.com": "suppressed", "m@example.com": "queued"}


def test_a_suppression_given_with_a_name_suppresses_the_address(client, headers, engine):
    result = client.simulate_post("/v1/suppressions", headers=headers,
                                  json={"emails": ["홍길동 <a@example.com>"]})
    assert result.status_code < 300, result.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT address FROM suppressions")).scalars().all() == [
            "a@example.com"]


def send_named_over_ses(client, headers, settings, engine, broker, redis, *, bulk: bool):
    """NAMED posted, then sent by one batch through SES (bulk or one by one): both sent."""
    ids = post(client, headers, NAMED)
    settings = load_settings(**{**settings.model_dump(), "transport": "ses", "ses_bulk": bulk},
                             _env_file=None)
    result = send_batch(ses_deps(settings, engine, broker, redis), SendBatch(tuple(ids)))
    assert [o.kind for o in result.outcomes] == [OutcomeKind.SENT] * 2


def test_ses_simple_destination_carries_the_encoded_names(
        client, headers, settings, engine, broker, redis, fake_ses):
    send_named_over_ses(client, headers, settings, engine, broker, redis, bulk=False)
    to = sorted(a["Destination"]["ToAddresses"][0] for a in fake_ses.accepted)
    assert all("Simple" in a["Content"] for a in fake_ses.accepted)
    assert to == ['"Kim, Minsu" <m@example.com>', _encoded("홍길동", "a@example.com")]


def test_ses_bulk_entries_carry_the_encoded_names(
        client, headers, settings, engine, broker, redis, fake_ses):
    send_named_over_ses(client, headers, settings, engine, broker, redis, bulk=True)
    [call] = fake_ses.bulk_calls
    to = [e["Destination"]["ToAddresses"] for e in call["BulkEmailEntries"]]
    assert to == [[_encoded("홍길동", "a@example.com")], ['"Kim, Minsu" <m@example.com>']]


def _encoded(name: str, address: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(name.encode()).decode()}?= <{address}>"


# --- campaigns, saved lists, listings and their CSV --------------------------------------

@pytest.fixture
def template_id(client, headers):
    result = client.simulate_post("/v1/templates", headers=headers, json={
        "name": "names", "subject": "{{city}} news", "html": "<p>{{city}}</p>"})
    return result.json["id"]


CSV_WITH_NAMES = ('email,city\r\n'
                  '홍길동 <a@example.com>,서울\r\n'
                  '"""Kim, Minsu"" <m@example.com>",부산\r\n'
                  'a@EXAMPLE.com,대전\r\n').encode()


def _campaign_from_csv(client, headers, template_id) -> dict:
    result = client.simulate_post(
        "/v1/campaigns", headers={**headers, "content-type": "text/csv"},
        params={"name": "June", "templateId": str(template_id), "topicId": "june",
                "from": "가게 <shop@example.com>"}, body=CSV_WITH_NAMES)
    assert result.status_code == 201, result.text
    return result.json


def test_a_csv_campaign_keeps_names_and_folds_duplicates_by_address(
        client, headers, template_id, settings, engine, broker, redis):
    campaign = _campaign_from_csv(client, headers, template_id)
    assert (campaign["total"], campaign["duplicates"]) == (2, 1)
    while expand_step(engine, broker, settings):
        pass
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, to_addr, to_name, from_addr FROM messages "
                                 "ORDER BY id")).all()
    assert [(r.to_addr, r.to_name) for r in rows] == [("a@example.com", "홍길동"),
                                                      ("m@example.com", "Kim, Minsu")]
    send_batch(sender_deps(settings, engine, broker, redis), SendBatch(tuple(r.id for r in rows)))
    sent = sent_files(settings)
    assert sent["a@example.com"]["To"].addresses[0].display_name == "홍길동"
    assert sent["m@example.com"]["To"].addresses[0].display_name == "Kim, Minsu"
    assert sent["m@example.com"]["From"].addresses[0].display_name == "가게"

    listing = client.simulate_get("/v1/messages", headers=headers, params={"topicId": "june"})
    assert [(m["email"], m["name"]) for m in listing.json["messages"]] == [
        ("a@example.com", "홍길동"), ("m@example.com", "Kim, Minsu")]
    exported = client.simulate_get("/v1/messages", headers=headers,
                                   params={"topicId": "june", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [(r["email"], r["name"]) for r in rows] == [("a@example.com", "홍길동"),
                                                       ("m@example.com", "Kim, Minsu")]


def test_a_csv_row_whose_name_could_break_the_header_is_refused_by_row(
        client, headers, template_id, engine):
    body = b'email,city\r\nok@example.com,x\r\n"Kim, Minsu <m@example.com>",y\r\n'
    result = client.simulate_post(
        "/v1/campaigns", headers={**headers, "content-type": "text/csv"},
        params={"name": "June", "templateId": str(template_id), "topicId": "june"}, body=body)
    assert result.status_code == 400, result.text
    [problem] = result.json["errors"]
    assert (problem["row"], problem["field"]) == (3, "email")
    assert "double quotes" in problem["message"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM campaigns")).scalar_one() == 0


def test_a_saved_list_keeps_names_for_the_campaigns_made_from_it(
        client, headers, template_id, settings, engine, broker):
    result = client.simulate_post("/v1/lists", headers={**headers, "content-type": "text/csv"},
                                  params={"name": "vip"}, body=CSV_WITH_NAMES)
    assert result.status_code == 201, result.text
    shown = client.simulate_get(f"/v1/lists/{result.json['id']}", headers=headers).json
    assert [r["email"] for r in shown["recipients"]] == [
        "홍길동 <a@example.com>", '"Kim, Minsu" <m@example.com>']
    made = client.simulate_post("/v1/campaigns", headers=headers, json={
        "name": "from list", "templateId": template_id, "topicId": "vip",
        "listId": result.json["id"]})
    assert made.status_code == 201, made.text
    while expand_step(engine, broker, settings):
        pass
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT to_addr, to_name FROM messages ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("a@example.com", "홍길동"),
                                        ("m@example.com", "Kim, Minsu")]


# --- the compat APIs: one message to To, Cc and Bcc ------------------------------------

@pytest.fixture
def biz(settings, make_client, api_key):
    """A client of the Biz E-mail API routes (enabled by MAILPIPE_BIZ_API_KEY)."""
    # No sender runs here: a Biz send's wait for its outcome is kept short.
    return make_client(load_settings(**{**settings.model_dump(), "biz_api_key": api_key[1],
                                        "max_sync_wait": 0.2}, _env_file=None))


def test_biz_names_reach_to_and_cc_and_bcc_stays_hidden(
        biz, headers, settings, engine, broker, redis):
    body = {"to": '홍길동 <a@example.com>, "Lee, Y" <l@example.com>',
            "cc": '"Kim, Minsu" <m@example.com>', "bcc": "비밀 <b@example.com>",
            "subject": "안내", "body": "<p>hi</p>", "from": "가게 <shop@example.com>"}
    result = biz.simulate_post("/email/send", headers=headers, json=body)
    assert result.json["code"] == "200", result.text  # 202: accepted, not sent yet
    with engine.connect() as conn:
        [row] = conn.execute(text("SELECT id, to_name, extra_names FROM messages")).all()
    assert row.to_name == "홍길동"
    assert row.extra_names == {"l@example.com": "Lee, Y", "m@example.com": "Kim, Minsu"}
    send_batch(sender_deps(settings, engine, broker, redis), SendBatch((row.id,)))
    [path] = settings.file_dir.glob("*.eml")
    mime = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert [(a.display_name, a.addr_spec) for a in mime["To"].addresses] == [
        ("홍길동", "a@example.com"), ("Lee, Y", "l@example.com")]
    assert [(a.display_name, a.addr_spec) for a in mime["Cc"].addresses] == [
        ("Kim, Minsu", "m@example.com")]
    assert mime["Bcc"] is None and b"b@example.com" not in path.read_bytes()


def test_a_biz_name_with_a_control_character_is_refused_naming_to(biz, headers, engine):
    result = biz.simulate_post("/email/send", headers=headers, json={
        "to": '"홍\x07길동" <a@example.com>', "subject": "s", "body": "b"})
    assert result.json["code"] == "411", result.text  # Biz's code for a bad ``to``
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM messages")).scalar_one() == 0
