"""The Biz E-mail API: the spec's own requests, sent through the whole pipeline to real
SMTP servers (the configured one, and tenants' own with AUTH), and its code table."""

from __future__ import annotations

import logging
import os

import falcon.testing
import pytest
from sqlalchemy import func, select

from services.api.app import ApiDeps, create_app
from shared.broker.queues import SEND_QUEUE
from shared.db.suppressions import add_suppressions
from shared.db.tables import contents, messages, smtp_relays
from shared.secrets import SecretBox
from shared.transports import make_transport
from tests.support.pump import Pump
from tests.support.settings import changed

SECRET = "test-secret-key"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3000) + b"\r\n.\r\n\x00end"
JSON_FILE = '{"name": "템플릿", "items": [1, 2, 3]}\n'.encode()
# The spec's first example, byte for byte (its odd "입니>다." included).
SPEC_JSON = {"to": "<tony@nexus.co.kr>", "cc": "<kenneth@nexus.co.kr>",
             "subject": "타이틀 입니>다.", "body": "메일 BODY 입니다. n"}


@pytest.fixture
def outbox(smtp_servers):
    """The SMTP server mailpipe is configured with (MAILPIPE_TRANSPORT=smtp)."""
    return smtp_servers("starttls")


@pytest.fixture
def biz_settings(settings, smtp_cert, outbox, api_key):
    # The tenants' test servers listen on 127.0.0.1.
    return changed(settings, transport="smtp", smtp_url=outbox.url, smtp_ca_file=smtp_cert[0],
                   secret_key=SECRET, biz_api_key=api_key[1], default_from="nexus@nexus.co.kr",
                   tenant_smtp_private=True)


@pytest.fixture
def pump(biz_settings, engine, broker, redis):
    return Pump(biz_settings, engine, broker, redis, make_transport(biz_settings))


class SendingClient:
    """A test client whose posts run with the sender and recorder stepping, as in
    production: a Biz send answers once its outcome is recorded."""

    def __init__(self, client, pump) -> None:
        self.client, self.pump = client, pump

    def simulate_post(self, *args, **kwargs):
        with self.pump.running():
            return self.client.simulate_post(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture
def client(biz_settings, make_client, pump):
    return SendingClient(make_client(biz_settings), pump)


def form(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes, str]] = ()):
    """A multipart body as curl -F builds it: (body, headers)."""
    boundary = "------------------------d48285772a76118d"
    out = b""
    for name, value in fields:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n").encode()
    for name, filename, data, content_type in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n').encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}", "Expect": ""}


def stored(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(messages)).scalar_one()


def test_suppressed_cc_and_bcc_are_left_out_and_the_others_still_get_it(
    client, pump, outbox, engine, api_key
):
    with engine.begin() as conn:
        add_suppressions(conn, api_key[0].id, ["Kenneth@nexus.co.kr", "hidden@nexus.co.kr"],
                         "complaint")
    result = client.simulate_post("/email/send", json={
        "to": "<tony@nexus.co.kr>", "cc": "<kenneth@nexus.co.kr>,<amy@nexus.co.kr>",
        "bcc": "<hidden@nexus.co.kr>,<seen@nexus.co.kr>", "subject": "s", "body": "b",
    }, headers={"Accept": "application/json"})
    assert result.json["code"] == "200", result.text

    pump.run()
    [got] = outbox.received
    assert got.rcpt_tos == ("tony@nexus.co.kr", "amy@nexus.co.kr", "seen@nexus.co.kr")
    assert got.message["Cc"] == "amy@nexus.co.kr"  # the listed one is not shown either
    with engine.connect() as conn:
        assert conn.execute(select(messages.c.state)).scalar_one() == "sent"


def test_json_send_from_the_spec_reaches_to_and_cc(client, pump, outbox, engine):
    result = client.simulate_post("/email/send", json=SPEC_JSON,
                                  headers={"Accept": "application/json"})
    assert result.status_code == 200, result.text
    assert result.json["code"] == "200"
    message_id = result.json["message_id"]
    assert message_id.endswith("@nexus.co.kr")

    pump.run()
    [got] = outbox.received
    assert got.mail_from == "nexus@nexus.co.kr"
    assert got.rcpt_tos == ("tony@nexus.co.kr", "kenneth@nexus.co.kr")
    mail = got.message
    assert mail["To"] == "tony@nexus.co.kr"
    assert mail["Cc"] == "kenneth@nexus.co.kr"
    assert mail["Subject"] == "타이틀 입니>다."
    assert mail["Message-ID"] == f"<{message_id}>"
    # As sent: no tracking pixel or rewritten links in a drop-in's mail.
    assert mail.get_body(("html",)).get_content() == "메일 BODY 입니다. n\n"
    with engine.connect() as conn:
        assert conn.execute(select(messages.c.state)).scalar_one() == "sent"


def test_korean_subject_is_rfc2047_encoded_on_the_wire(client, pump, outbox):
    client.simulate_post("/email/send", json=SPEC_JSON)
    pump.run()
    head = outbox.received[0].data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"Subject: =?utf-8?" in head


def test_use_html_false_sends_plain_text_only(client, pump, outbox):
    result = client.simulate_post("/email/send", json={**SPEC_JSON, "use_html": False})
    assert result.json["code"] == "200", result.text
    pump.run()
    mail = outbox.received[0].message
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content() == "메일 BODY 입니다. n\n"


@pytest.mark.parametrize("quoted", [False, True], ids=["as-curl-sends", "quotes-kept"])
def test_multipart_send_from_the_spec_carries_files_byte_for_byte(client, pump, outbox, quoted):
    q = '"' if quoted else ""
    body, headers = form(
        [("to", f"{q}<test@nexus.co.kr>{q}"), ("cc", f"{q}<test@gmail.com>{q}"),
         ("subject", "타이틀 입니다."), ("body", "메일 BODY 입니다.")],
        [("files", "800_400.png", PNG, "image/png"),
         ("files", "template_create.json", JSON_FILE, "application/octet-stream")],
    )
    result = client.simulate_post("/email/multipart/send", body=body, headers=headers)
    assert result.status_code == 200, result.text
    assert result.json["code"] == "200"
    pump.run()
    [got] = outbox.received
    assert got.rcpt_tos == ("test@nexus.co.kr", "test@gmail.com")
    mail = got.message
    assert mail["Subject"] == "타이틀 입니다."
    files = [(p.get_filename(), p.get_content_type(), p.get_content())
             for p in mail.iter_attachments()]
    assert files == [("800_400.png", "image/png", PNG),
                     ("template_create.json", "application/json", JSON_FILE)]


def test_korean_file_names_arrive_intact(client, pump, outbox):
    body, headers = form([("to", "<test@nexus.co.kr>"), ("subject", "첨부")],
                         [("files", "견적서 2024.pdf", b"%PDF-1.4 data", "application/pdf"),
                          ("files", "=?UTF-8?B?7ZWc6riA?=.txt", b"hello", "text/plain")])
    assert client.simulate_post("/email/multipart/send", body=body,
                                headers=headers).json["code"] == "200"
    pump.run()
    mail = outbox.received[0].message
    assert [p.get_filename() for p in mail.iter_attachments()] == ["견적서 2024.pdf", "한글.txt"]
    raw = outbox.received[0].data
    assert b"filename*=utf-8''%ED%95%9C%EA%B8%80.txt" in raw  # RFC 2231
    assert b"name*=utf-8''%ED%95%9C%EA%B8%80.txt" in raw  # on Content-Type too


def test_same_file_twice_is_stored_once(client, engine):
    from shared.db.tables import attachment_blobs

    with engine.begin() as conn:
        conn.execute(attachment_blobs.delete().where(attachment_blobs.c.size == len(PNG)))
    for _ in range(2):
        body, headers = form([("to", "<a@nexus.co.kr>"), ("subject", "s")],
                             [("files", "a.png", PNG, "image/png")])
        assert client.simulate_post("/email/multipart/send", body=body,
                                    headers=headers).json["code"] == "200"
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(attachment_blobs)
                             .where(attachment_blobs.c.size == len(PNG))).scalar_one()
    assert count == 1


def test_multipart_tenant_send_from_the_spec_goes_through_the_tenants_server(
    client, pump, outbox, smtp_servers, engine, caplog,
):
    caplog.set_level(logging.DEBUG)
    tenant = smtp_servers("starttls", users={"test@nexus.co.kr": "62402580"})
    body, headers = form(
        [("smtp_url", f'"smtp://127.0.0.1:{tenant.port}"'), ("user", '"test@nexus.co.kr"'),
         ("password", '"62402580"'), ("ssl", "true"), ("to", '"<test@nexus.co.kr>"'),
         ("cc", '"<test@gmail.com>"'), ("bcc", "<hidden@nexus.co.kr>,<hidden2@nexus.co.kr>"),
         ("subject", "타이틀 입니다."), ("body", "메일 BODY 입니다."),
         ("reply_id", "3B5560140957@nexus.co.kr")],
        [("files", "800_400.png", PNG, "image/png"),
         ("files", "template_create.json", JSON_FILE, "application/json")],
    )
    result = client.simulate_post("/email/multipart/tenant/send", body=body, headers=headers)
    assert result.status_code == 200, result.text
    assert result.json["code"] == "200"
    assert "62402580" not in result.text
    pump.run()

    assert outbox.received == []
    [got] = tenant.received
    assert got.tls and got.login == "test@nexus.co.kr"
    assert got.mail_from == "test@nexus.co.kr"
    assert got.rcpt_tos == ("test@nexus.co.kr", "test@gmail.com", "hidden@nexus.co.kr",
                            "hidden2@nexus.co.kr")
    mail = got.message
    assert "Bcc" not in mail and b"hidden" not in got.data
    assert mail["Cc"] == "test@gmail.com"
    assert mail["In-Reply-To"] == mail["References"] == "<3B5560140957@nexus.co.kr>"
    assert [p.get_content() for p in mail.iter_attachments()] == [PNG, JSON_FILE]

    with engine.connect() as conn:
        relay = conn.execute(select(smtp_relays)).one()
    assert relay.url == f"smtp://127.0.0.1:{tenant.port}?tls=required"
    assert "62402580" not in relay.password_encrypted
    assert SecretBox(SECRET).decrypt(relay.password_encrypted) == "62402580"
    assert "62402580" not in caplog.text


def test_json_tenant_send_with_the_specs_spellings(client, pump, smtp_servers, engine, api_key):
    tenant = smtp_servers("tls", users={"test@nexus.co.kr": "pw-Zq81"})
    result = client.simulate_post("/email/send", json={
        "smtp": f"smtps://127.0.0.1:{tenant.port}", "user": "test@nexus.co.kr",
        "pasword": "pw-Zq81", "ssl": True, "to": "<nexus_to@nexus.co.kr>",
        "cc": "<nexus_cc1@nexus.co.kr>,<nexus_cc2@nexus.co.kr>,",
        "bcc": "<nexus_bcc@nexus.co.kr>", "subject": "메일 제목입니다.", "body": "<b>본문</b>",
        "replay_id": "3B5560140957@nexus.co.kr", "use_html": True,
    })
    assert result.json["code"] == "200", result.text
    pump.run()
    [got] = tenant.received
    assert got.login == "test@nexus.co.kr"
    assert got.rcpt_tos == ("nexus_to@nexus.co.kr", "nexus_cc1@nexus.co.kr",
                            "nexus_cc2@nexus.co.kr", "nexus_bcc@nexus.co.kr")
    assert got.message["Cc"] == "nexus_cc1@nexus.co.kr, nexus_cc2@nexus.co.kr"
    assert got.message["In-Reply-To"] == "<3B5560140957@nexus.co.kr>"

    # The native API shows the one message with everyone it reached.
    with engine.connect() as conn:
        row_id = conn.execute(select(messages.c.id)).scalar_one()
    shown = client.simulate_get(f"/v1/messages/{row_id}", headers={"x-api-key": api_key[1]}).json
    assert (shown["to"], shown["cc"], shown["bcc"]) == (
        "nexus_to@nexus.co.kr", ["nexus_cc1@nexus.co.kr", "nexus_cc2@nexus.co.kr"],
        ["nexus_bcc@nexus.co.kr"])
    assert shown["messageId"] == result.json["message_id"] and shown["status"] == "sent"
    assert "pw-Zq81" not in str(shown)


def test_json_twin_route_of_the_tenant_send(client, pump, smtp_servers):
    tenant = smtp_servers("plain")
    result = client.simulate_post("/email/tenant/send", json={
        "smtp_url": f"smtp://127.0.0.1:{tenant.port}", "user": "relay-user", "ssl": False,
        "to": "<a@nexus.co.kr>", "subject": "s", "body": "b",
    })
    assert result.json["code"] == "200", result.text
    pump.run()
    [got] = tenant.received
    assert got.mail_from == "nexus@nexus.co.kr"  # the user is no address: MAILPIPE_DEFAULT_FROM
    assert got.login is None  # no password, no AUTH


def test_tenant_wrong_password_fails_the_message(client, pump, smtp_servers, engine):
    tenant = smtp_servers("starttls", users={"u@nexus.co.kr": "right"})
    result = client.simulate_post("/email/tenant/send", json={
        "smtp_url": f"smtp://127.0.0.1:{tenant.port}", "user": "u@nexus.co.kr",
        "password": "wrong", "ssl": True, "to": "<a@nexus.co.kr>", "subject": "s",
    })
    # Not sent: the spec's failure code, with the server's refusal.
    assert (result.status_code, result.json["code"], result.json["message_id"]) == (
        500, "500", ""), result.text
    assert "535" in result.json["message"] and "wrong" not in result.text
    with engine.connect() as conn:
        state, error = conn.execute(select(messages.c.state, messages.c.error)).one()
    assert state == "failed" and "535" in error and "wrong" not in error


def test_tenant_server_on_a_private_address_is_refused_by_default(
    biz_settings, engine, broker, redis, smtp_servers,
):
    """Refused at request time with the spec's 422 (the sender checks again before it
    connects: tests/shared/transports/test_relay_guard.py)."""
    tenant = smtp_servers("plain")
    public_only = changed(biz_settings, tenant_smtp_private=False)
    client = falcon.testing.TestClient(create_app(ApiDeps(public_only, engine, broker, redis)))
    result = client.simulate_post("/email/tenant/send", json={
        "smtp_url": f"smtp://127.0.0.1:{tenant.port}", "user": "u", "ssl": False,
        "to": "<a@nexus.co.kr>", "subject": "s"})
    assert result.json["code"] == "422", result.text
    assert "not a public address" in result.json["message"]
    Pump(public_only, engine, broker, redis, make_transport(public_only)).run()
    assert tenant.received == []
    assert stored(engine) == 0


# -- the code table: every refusal stores nothing -----------------------------------------------

TENANT = {"smtp_url": "smtp://smtp.nexus.co.kr:587", "user": "u@nexus.co.kr", "password": "p",
          "ssl": True, "to": "<a@nexus.co.kr>", "subject": "s"}


@pytest.mark.parametrize(("path", "body", "code"), [
    ("/email/send", {"subject": "s"}, "411"),
    ("/email/send", {"to": "", "subject": "s"}, "411"),
    ("/email/send", {"to": "<not an address>", "subject": "s"}, "411"),
    ("/email/send", {"to": "<a@nexus.co.kr>,<b@nexus>", "subject": "s"}, "411"),
    ("/email/send", {"to": "<a@nexus.co.kr>"}, "410"),
    ("/email/send", {"to": "<a@nexus.co.kr>", "subject": "a\r\nBcc: x@evil.com"}, "410"),
    ("/email/send", {"to": "<a@nexus.co.kr>", "subject": "s", "cc": "nope"}, "410"),
    ("/email/send", {"to": "<a@nexus.co.kr>", "subject": "s", "use_html": "maybe"}, "410"),
    ("/email/send", ["not", "an", "object"], "410"),
    ("/email/tenant/send", {**TENANT, "user": ""}, "421"),
    ("/email/tenant/send", {k: v for k, v in TENANT.items() if k != "user"}, "421"),
    ("/email/tenant/send", {k: v for k, v in TENANT.items() if k != "smtp_url"}, "422"),
    ("/email/tenant/send", {**TENANT, "smtp_url": "http://mail.nexus.co.kr"}, "422"),
    ("/email/tenant/send", {**TENANT, "smtp_url": "smtp://mail.nexus.co.kr:99999"}, "422"),
    ("/email/tenant/send", {**TENANT, "password": 1234}, "423"),
    ("/email/tenant/send", {k: v for k, v in TENANT.items() if k != "ssl"}, "410"),
    ("/email/tenant/send", {**TENANT, "reply_id": "<not an id>"}, "410"),
    ("/email/tenant/send", {**TENANT, "to": "x"}, "411"),
])
def test_each_error_code_of_the_spec(client, engine, redis, path, body, code):
    result = client.simulate_post(path, json=body)
    assert result.status_code == 200, result.text
    assert result.json["code"] == code
    assert result.json["message_id"] == ""
    assert result.json["message"].startswith("[Error] parameter invalid.")
    assert stored(engine) == 0 and redis.llen(f"dramatiq:{SEND_QUEUE}") == 0


def test_multipart_tenant_send_without_password_is_423(client, engine):
    body, headers = form([(k, str(v).lower() if isinstance(v, bool) else v)
                          for k, v in TENANT.items() if k != "password"])
    result = client.simulate_post("/email/multipart/tenant/send", body=body, headers=headers)
    assert result.json["code"] == "423", result.text
    assert stored(engine) == 0


def test_files_over_the_cap_are_413(biz_settings, make_client, engine):
    client = make_client(changed(biz_settings, max_attachment_bytes=2000))
    body, headers = form([("to", "<a@nexus.co.kr>"), ("subject", "s")],
                         [("files", "big.bin", b"x" * 1500, "application/octet-stream"),
                          ("files", "more.bin", b"y" * 1500, "application/octet-stream")])
    result = client.simulate_post("/email/multipart/send", body=body, headers=headers)
    assert result.status_code == 413
    assert result.json["code"] == "410"
    assert "2000" in result.json["message"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(contents)).scalar_one() == 0


def test_tenant_send_without_secret_key_is_500(biz_settings, make_client, engine):
    client = make_client(changed(biz_settings, secret_key=None))
    result = client.simulate_post("/email/tenant/send", json=TENANT)
    assert result.status_code == 500
    assert result.json["code"] == "500"
    assert stored(engine) == 0


def test_send_without_any_sender_configured_is_500(biz_settings, make_client):
    client = make_client(changed(biz_settings, default_from=None))
    result = client.simulate_post("/email/send", json=SPEC_JSON)
    assert (result.status_code, result.json["code"]) == (500, "500")


def test_without_biz_key_a_request_needs_x_api_key(biz_settings, make_client, pump, api_key,
                                                   engine):
    client = SendingClient(make_client(changed(biz_settings, biz_api_key=None)), pump)
    result = client.simulate_post("/email/send", json=SPEC_JSON,
                                  headers={"x-api-key": api_key[1]})
    assert (result.status_code, result.json["code"]) == (200, "200"), result.text


@pytest.mark.parametrize(("path", "body"), [
    ("/email/send", SPEC_JSON),
    ("/email/send", {**SPEC_JSON, "smtp_url": "smtp://smtp.nexus.co.kr:587", "user": "u"}),
    ("/email/multipart/send", SPEC_JSON),
    ("/email/tenant/send", TENANT),
    ("/email/multipart/tenant/send", TENANT),
])
def test_no_x_api_key_without_biz_key_is_the_specs_410_with_http_401(
    biz_settings, make_client, engine, redis, path, body,
):
    """The caller's missing credential, not a server error: a 500 would tell a Biz client
    to retry the same request."""
    client = make_client(changed(biz_settings, biz_api_key=None))
    if path.startswith("/email/multipart/"):
        fields = [(k, str(v).lower() if isinstance(v, bool) else v) for k, v in body.items()]
        form_body, headers = form(fields, [("files", "a.txt", b"hi", "text/plain")])
        result = client.simulate_post(path, body=form_body, headers=headers)
    else:
        result = client.simulate_post(path, json=body)
    assert result.status_code == 401, result.text
    assert result.json["code"] == "410" and result.json["message_id"] == ""
    assert result.json["message"].startswith("[Error] parameter invalid. x-api-key")
    assert "MAILPIPE_BIZ_API_KEY" in result.json["message"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(contents)).scalar_one() == 0
    assert stored(engine) == 0 and redis.llen(f"dramatiq:{SEND_QUEUE}") == 0


@pytest.mark.parametrize("configured", [True, False], ids=["biz-key-set", "biz-key-unset"])
def test_wrong_x_api_key_is_the_specs_410_with_http_401(biz_settings, make_client, engine,
                                                       configured):
    client = make_client(biz_settings if configured else changed(biz_settings,
                                                                 biz_api_key=None))
    result = client.simulate_post("/email/send", json=SPEC_JSON,
                                  headers={"x-api-key": "mp_not-a-key"})
    assert result.status_code == 401
    assert result.json["code"] == "410" and result.json["message_id"] == ""
    assert result.json["message"].startswith("[Error] parameter invalid. x-api-key")
    assert stored(engine) == 0


def test_database_down_answers_the_biz_500(biz_settings, broker, redis):
    from shared.db.engine import make_engine
    from shared.runtime.localservers import free_port

    down = make_engine(f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x")
    client = falcon.testing.TestClient(create_app(ApiDeps(biz_settings, down, broker, redis)))
    result = client.simulate_post("/email/send", json=SPEC_JSON)
    assert result.status_code == 500
    assert result.json == {"code": "500", "message_id": "", "message": "[Error] Server"}


# -- code 200 means sent: the answer waits for the outcome ---------------------------------------


def test_code_200_is_answered_once_the_mail_is_sent(client, outbox, engine):
    result = client.simulate_post("/email/send", json=SPEC_JSON)
    assert (result.status_code, result.json["code"]) == (200, "200"), result.text
    # Already at the server when the answer comes, under the Message-ID answered.
    [got] = outbox.received
    assert got.message["Message-ID"] == f"<{result.json['message_id']}>"
    with engine.connect() as conn:
        assert conn.execute(select(messages.c.state)).scalar_one() == "sent"


def test_a_send_without_an_outcome_in_time_is_pending_code_200(biz_settings, make_client, pump,
                                                               outbox):
    client = make_client(changed(biz_settings, max_sync_wait=0.3))  # no sender runs
    result = client.simulate_post("/email/send", json=SPEC_JSON)
    assert (result.status_code, result.json["code"]) == (202, "200"), result.text
    assert result.json["message"].startswith("[Pending]") and result.json["id"]
    pump.run()  # still sent, with the Message-ID answered (SMTP keeps mailpipe's)
    [got] = outbox.received
    assert got.message["Message-ID"] == f"<{result.json['message_id']}>"


def test_a_send_with_an_unknown_outcome_is_pending_code_200(client, outbox):
    outbox.behaviour.drop_after_data = True
    result = client.simulate_post("/email/send", json=SPEC_JSON)
    assert (result.status_code, result.json["code"]) == (202, "200"), result.text
    assert "may have been delivered" in result.json["message"]
