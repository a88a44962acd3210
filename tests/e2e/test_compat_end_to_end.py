"""The compat APIs against mailpipe's real processes: the specs' curl commands as written
(only the host changed), SMTP as the transport, tenants' own servers, and synchronous
sends whose answer comes from the recorder process through Redis."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import requests

from shared.db.keys import create_key
from tests.support.stack import running_stack, settings_env, wait_for


@pytest.fixture(autouse=True)
def _curl():
    """The spec's own curl lines are run by curl itself (scripts/test installs it)."""
    assert shutil.which("curl"), "curl is not installed"

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(1024)
TEMPLATE_JSON = b'{"template": "create", "name": "\xed\x85\x9c"}\n'


@pytest.fixture
def outbox(smtp_servers):
    return smtp_servers("starttls")


@pytest.fixture
def stack(settings, engine, redis, smtp_cert, outbox, tmp_path):
    # ``redis`` empties Redis first: no pause, rate penalty or queue left by another test.
    with engine.begin() as conn:
        _, biz_key = create_key(conn, "biz", [])
    env = settings_env(
        settings, MAILPIPE_TRANSPORT="smtp", MAILPIPE_SMTP_URL=outbox.url,
        MAILPIPE_SMTP_CA_FILE=str(smtp_cert[0]), MAILPIPE_SECRET_KEY="e2e-secret",
        MAILPIPE_BIZ_API_KEY=biz_key, MAILPIPE_DEFAULT_FROM="nexus@nexus.co.kr",
        MAILPIPE_TENANT_SMTP_PRIVATE="true",  # the tenant's test server is on 127.0.0.1
    )
    with running_stack(env, tmp_path / "logs") as (_, url):
        yield url


def curl(*args: str, cwd) -> dict:
    done = subprocess.run(["curl", "-s", *args], capture_output=True, cwd=cwd, timeout=60,
                          check=True)
    return json.loads(done.stdout)


def test_biz_spec_curl_commands_deliver_through_the_pipeline(stack, outbox, smtp_servers,
                                                             tmp_path):
    (tmp_path / "800_400.png").write_bytes(PNG)
    (tmp_path / "template_create.json").write_bytes(TEMPLATE_JSON)

    # 15.4.2, as printed (the spec's odd "입니>다." included).
    answer = curl("-H", "Accept: application/json", "-H", "Content-type: application/json",
                  "-X", "POST", "-d",
                  '{"to":"<tony@nexus.co.kr>","cc":"<kenneth@nexus.co.kr>","subject":"타이틀 입니>'
                  '다.", "body":"메일 BODY 입니다. n"}', f"{stack}/email/send", cwd=tmp_path)
    assert answer["code"] == "200"

    # 15.4.3
    answer = curl("-v", "-H", "Expect:", "-H", "Content-type: multipart/form-data", "-X", "POST",
                  "-F", 'to="<test@nexus.co.kr>"', "-F", 'cc="<test@gmail.com>"',
                  "-F", "subject=타이틀 입니다.", "-F", "body=메일 BODY 입니다.",
                  "-F", "files=@800_400.png", "-F", "files=@template_create.json",
                  f"{stack}/email/multipart/send", cwd=tmp_path)
    assert answer["code"] == "200"

    # 15.4.5, against a tenant server that wants implicit TLS and AUTH.
    tenant = smtp_servers("tls", users={"test@nexus.co.kr": "62402580"})
    answer = curl("-v", "-H", "Expect:", "-H", "Content-type: multipart/form-data", "-X", "POST",
                  "-F", f'smtp_url="smtps://127.0.0.1:{tenant.port}"',
                  "-F", 'user="test@nexus.co.kr"', "-F", 'password="62402580"',
                  "-F", "ssl=true", "-F", 'to="<test@nexus.co.kr>"', "-F", 'cc="<test@gmail.com>"',
                  "-F", "subject=타이틀 입니다.", "-F", "body=메일 BODY 입니다.",
                  "-F", "files=@800_400.png", "-F", "files=@template_create.json",
                  f"{stack}/email/multipart/tenant/send", cwd=tmp_path)
    assert answer["code"] == "200"
    tenant_id = answer["message_id"]

    wait_for(lambda: len(outbox.received) == 2 and len(tenant.received) == 1, 60,
             "three messages at the SMTP servers")
    by_subject = {r.message["Subject"]: r for r in outbox.received}
    first = by_subject["타이틀 입니>다."]
    assert first.rcpt_tos == ("tony@nexus.co.kr", "kenneth@nexus.co.kr")
    second = by_subject["타이틀 입니다."]
    assert [(p.get_filename(), p.get_content()) for p in second.message.iter_attachments()] == [
        ("800_400.png", PNG), ("template_create.json", TEMPLATE_JSON)]
    [got] = tenant.received
    assert got.tls and got.login == "test@nexus.co.kr"
    assert got.message["Message-ID"] == f"<{tenant_id}>"
    assert [p.get_content() for p in got.message.iter_attachments()] == [PNG, TEMPLATE_JSON]


def test_synchronous_sends_are_answered_from_the_recorder(stack, engine, outbox):
    with engine.begin() as conn:
        _, fureweb_key = create_key(conn, "fureweb", ["fureweb.com"])
        _, native_key = create_key(conn, "native", [])
    # An asynchronous send first: once it arrived, sender and recorder are up.
    message = {"key": fureweb_key, "from": "mailer@fureweb.com", "to": ["warmup@example.net"],
               "title": "t", "content": "c"}
    assert requests.post(f"{stack}/api/mail", json=message, timeout=10).json()["code"] == 200
    wait_for(lambda: outbox.received, 60, "the asynchronous send")

    answer = requests.post(f"{stack}/api/mail", json={
        "isSync": True, "key": fureweb_key, "from": "mailer@fureweb.com",
        "to": ["someone@example.net"], "cc": ["cc@example.net"],
        "title": "메일 제목", "content": "메일 본문",
    }, timeout=40)
    assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == 200 and answer.json()["messageId"]

    answer = requests.post(f"{stack}/api/mail", json={
        "key": "wrong", "from": "mailer@fureweb.com", "to": ["a@example.net"],
        "title": "t", "content": "c"}, timeout=10)
    assert answer.json() == {"code": 406, "message": "invalid api key"}

    answer = requests.post(f"{stack}/v1/messages", params={"wait": 20},
                           headers={"x-api-key": native_key},
                           json={"messages": [{"topicId": "sync", "emails": ["n@example.net"],
                                               "subject": "s", "content": "<p>c</p>"}]},
                           timeout=40)
    assert answer.status_code == 200, answer.text
    assert answer.json()["messages"][0]["status"] == "sent"
    assert len(outbox.received) == 3
