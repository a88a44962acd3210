"""What a submission becomes: one row per envelope recipient, sent as submitted, once."""

from __future__ import annotations

import base64
import socket
import ssl
import time
from email import message_from_bytes, policy

import pytest
from sqlalchemy import text

from shared.db.claims import as_claimed
from shared.db.suppressions import add_suppressions
from shared.rendering.preview import as_sent
from shared.rendering.submitted import field_name, split_headers
from shared.transports.ses import SesTransport
from tests.smtp.messages import korean_message
from tests.support.pump import Pump
from tests.support.stack import wait_for


@pytest.fixture
def pump(smtp_settings, engine, broker, redis, fake_ses) -> Pump:
    """The sender and recorder steps, sending through SES (the suite's fake, over HTTP)."""
    return Pump(smtp_settings, engine, broker, redis,
                SesTransport.from_environment(region="us-east-1"))


def rows(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT m.id, m.to_addr, m.state, m.source, m.topic_id, m.from_addr, c.tracking, "
            "c.subject, m.scheduled_at FROM messages m JOIN contents c ON c.id = m.content_id "
            "ORDER BY m.id")).all()


def raw_sent(fake_ses) -> dict[str, bytes]:
    """What SES was given, by the one recipient of each call."""
    out = {}
    for request in fake_ses.accepted:
        (to,) = request["Destination"]["ToAddresses"]
        out[to] = base64.b64decode(request["Content"]["Raw"]["Data"])
    return out


def test_every_envelope_recipient_is_sent_the_submitted_bytes_without_bcc(
        submission, api_key, engine, pump, fake_ses):
    message = korean_message(X_Mailpipe_Topic="newsletter-12")
    submitted = message.as_bytes(policy=policy.SMTP)
    recipients = ["to@dest.test", "cc@dest.test", "hidden@dest.test"]
    client = submission.starttls(api_key[1])
    assert client.sendmail("bounce@example.com", recipients, submitted) == {}
    client.quit()

    stored = rows(engine)
    assert [r.to_addr for r in stored] == recipients
    assert {(r.source, r.topic_id, r.state) for r in stored} == {
        ("smtp", "newsletter-12", "queued")}
    assert stored[0].subject == "안녕하세요 — 월간 소식"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM contents")).scalar_one() == 1

    pump.run()
    sent = raw_sent(fake_ses)
    assert sorted(sent) == sorted(recipients) and len(fake_ses.accepted) == 3
    assert {r.state for r in rows(engine)} == {"sent"}
    fields, _, body = split_headers(submitted)
    for row in stored:
        got_fields, _, got_body = split_headers(sent[row.to_addr])
        assert got_body == body  # the body's bytes as submitted
        names = [field_name(f) for f in got_fields]
        assert "bcc" not in names and "x-mailpipe-topic" not in names
        assert got_fields[0] == f"X-Mailpipe-Id: {row.id}".encode()
        assert got_fields[1:] == [f for f in fields
                                  if field_name(f) not in ("bcc", "x-mailpipe-topic")]
        received = message_from_bytes(sent[row.to_addr], policy=policy.default)
        assert received["Subject"] == "안녕하세요 — 월간 소식"
        assert received["From"].addresses[0].display_name == "발신자"
        assert received["To"].addresses[0].display_name == "받는사람"
        assert received["Message-ID"] == message["Message-ID"]
        (attachment,) = received.iter_attachments()
        assert attachment.get_filename() == "보고서.txt"
        assert attachment.get_payload(decode=True) == "첨부 내용".encode()
    assert b"hidden@dest.test" not in b"".join(sent.values())


def test_implicit_tls_submission_is_stored_as_smtp(submission, api_key, engine):
    client = submission.implicit(api_key[1])
    client.sendmail("news@example.com", ["to@dest.test"],
                    korean_message(bcc=None, cc=None).as_bytes(policy=policy.SMTP))
    client.quit()
    assert [(r.to_addr, r.source) for r in rows(engine)] == [("to@dest.test", "smtp")]


def test_a_suppressed_recipient_is_accepted_and_recorded_suppressed(
        submission, api_key, engine, pump, fake_ses):
    with engine.begin() as conn:
        add_suppressions(conn, api_key[0].id, ["cc@dest.test"], "bounce")
    client = submission.starttls(api_key[1])
    refused = client.sendmail("news@example.com", ["to@dest.test", "cc@dest.test"],
                              korean_message(bcc=None).as_bytes(policy=policy.SMTP))
    client.quit()
    assert refused == {}
    assert {r.to_addr: r.state for r in rows(engine)} == {
        "to@dest.test": "queued", "cc@dest.test": "suppressed"}
    pump.run()
    assert list(raw_sent(fake_ses)) == ["to@dest.test"]


def test_instruction_headers_set_topic_time_and_tracking_and_are_not_sent(
        submission, api_key, engine, pump, fake_ses):
    client = submission.starttls(api_key[1])
    client.sendmail("news@example.com", ["to@dest.test"], korean_message(
        bcc=None, cc=None, X_Mailpipe_Topic="later", X_Mailpipe_Tracking="on",
        X_Mailpipe_Scheduled_At="2099-01-01T09:00:00+09:00").as_bytes(policy=policy.SMTP))
    client.sendmail("news@example.com", ["now@dest.test"], korean_message(
        bcc=None, cc=None, X_Mailpipe_Tracking="on").as_bytes(policy=policy.SMTP))
    client.quit()
    later, now = rows(engine)
    assert (later.topic_id, later.state, later.tracking) == ("later", "created", True)
    assert later.scheduled_at.isoformat() == "2099-01-01T00:00:00+00:00"
    assert (now.topic_id, now.state, now.tracking) == ("smtp", "queued", True)
    pump.run()
    sent = message_from_bytes(raw_sent(fake_ses)["now@dest.test"], policy=policy.default)
    assert not [name for name in sent.keys() if name.lower().startswith("x-mailpipe-t")]
    html = sent.get_body(("html",)).get_content()
    assert "https://mp.example.com/v1/events/click?t=" in html
    assert "https://mp.example.com/v1/events/open?t=" in html
    assert "https://example.com/a" not in html


def test_without_tracking_asked_the_html_is_sent_untouched(
        submission, api_key, engine, pump, fake_ses):
    client = submission.starttls(api_key[1])
    client.sendmail("news@example.com", ["to@dest.test"],
                    korean_message(bcc=None, cc=None).as_bytes(policy=policy.SMTP))
    client.quit()
    pump.run()
    sent = message_from_bytes(raw_sent(fake_ses)["to@dest.test"], policy=policy.default)
    assert '<a href="https://example.com/a">' in sent.get_body(("html",)).get_content()


def test_the_same_message_resent_is_answered_250_and_stored_once(
        submission, api_key, engine):
    message = korean_message(bcc=None).as_bytes(policy=policy.SMTP)
    client = submission.starttls(api_key[1])
    client.sendmail("news@example.com", ["to@dest.test", "cc@dest.test"], message)
    first = rows(engine)
    # The same Message-ID to the same recipients (any order, any case): nothing new.
    client.sendmail("news@example.com", ["CC@dest.test", "to@dest.test"], message)
    assert rows(engine) == first
    # The same Message-ID to other recipients is another submission.
    client.sendmail("news@example.com", ["third@dest.test"], message)
    client.quit()
    assert [r.to_addr for r in rows(engine)] == ["to@dest.test", "cc@dest.test",
                                                 "third@dest.test"]


def test_a_message_resent_after_a_dropped_connection_is_sent_once(
        submission, api_key, engine, pump, fake_ses):
    message = korean_message(bcc=None, cc=None).as_bytes(policy=policy.SMTP)
    # The first try: the whole message arrives, the connection dies before the answer.
    raw = ssl.create_default_context(cafile=submission.cafile).wrap_socket(
        socket.create_connection(("127.0.0.1", submission.tls_port), timeout=10),
        server_hostname="127.0.0.1")
    login = base64.b64encode(b"\0apikey\0" + api_key[1].encode())
    raw.sendall(b"EHLO client\r\nAUTH PLAIN " + login + b"\r\nMAIL FROM:<news@example.com>"
                b"\r\nRCPT TO:<to@dest.test>\r\nDATA\r\n")
    _read_until(raw, b"354 ")
    raw.sendall(message + b".\r\n")
    wait_for(lambda: rows(engine), 10, "the first try to be stored")
    raw.close()  # before reading the 250
    # The client retries on a new connection.
    client = submission.starttls(api_key[1])
    assert client.sendmail("news@example.com", ["to@dest.test"], message) == {}
    client.quit()
    assert len(rows(engine)) == 1
    pump.run()
    assert len(fake_ses.accepted) == 1


def _read_until(sock, marker: bytes, timeout: float = 10) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        seen += sock.recv(4096)
    assert marker in seen, seen
    return seen


def test_the_file_transport_writes_what_ses_would_be_sent(
        submission, api_key, engine, smtp_settings, broker, redis):
    client = submission.starttls(api_key[1])
    client.sendmail("news@example.com", ["to@dest.test", "hidden@dest.test"],
                    korean_message(cc=None).as_bytes(policy=policy.SMTP))
    client.quit()
    Pump(smtp_settings, engine, broker, redis, None).run()  # the file transport
    files = sorted(smtp_settings.file_dir.glob("*.eml"))
    assert len(files) == 2
    for file in files:
        written = file.read_bytes()
        assert b"\r\nBcc:" not in written and written.startswith(b"X-Mailpipe-Id: ")
        assert message_from_bytes(written, policy=policy.default)["Subject"] == (
            "안녕하세요 — 월간 소식")


def test_the_console_shows_a_submitted_message_as_it_was_sent(submission, api_key, engine):
    client = submission.starttls(api_key[1])
    client.sendmail("news@example.com", ["to@dest.test", "hidden@dest.test"],
                    korean_message(X_Mailpipe_Topic="t").as_bytes(policy=policy.SMTP))
    client.quit()
    with engine.connect() as conn:
        hidden = as_claimed(conn, rows(engine)[1].id)
    sent = as_sent(hidden, None, sent_at=None)
    names = [name.lower() for name, _ in sent.headers]
    assert "bcc" not in names and "x-mailpipe-topic" not in names
    assert dict(sent.headers)["X-Mailpipe-Id"] == str(hidden.id)
    assert sent.composed.subject == "안녕하세요 — 월간 소식"
    assert sent.composed.to == ("받는사람 <to@dest.test>",)
    assert sent.composed.bcc == ("hidden@dest.test",)  # its recipient: no header names it
    assert "본문" in sent.composed.html and sent.composed.text == "본문입니다.\n"
    assert [a.filename for a in sent.composed.attachments] == ["보고서.txt"]


def test_bulk_mail_asked_for_carries_one_click_list_unsubscribe(
        submission, api_key, engine, pump, fake_ses):
    client = submission.starttls(api_key[1])
    client.sendmail("news@example.com", ["bulk@dest.test"], korean_message(
        bcc=None, cc=None, X_Mailpipe_Bulk="on").as_bytes(policy=policy.SMTP))
    client.sendmail("news@example.com", ["single@dest.test"],
                    korean_message(bcc=None, cc=None).as_bytes(policy=policy.SMTP))
    client.quit()
    pump.run()
    sent = {to: message_from_bytes(raw, policy=policy.default)
            for to, raw in raw_sent(fake_ses).items()}
    assert sent["bulk@dest.test"]["List-Unsubscribe"].startswith(
        "<https://mp.example.com/v1/unsubscribe?t=")
    assert sent["bulk@dest.test"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "List-Unsubscribe" not in sent["single@dest.test"]
    assert "X-Mailpipe-Bulk" not in sent["bulk@dest.test"]
