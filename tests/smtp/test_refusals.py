"""What ``mailpipe smtp`` refuses, and with which code: before DATA wherever it can."""

from __future__ import annotations

import smtplib
import threading
import time
from email import policy

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from shared.db.keys import create_key, revoke_key
from tests.smtp.messages import korean_message
from tests.support.stack import wait_for


def auth_plain(client: smtplib.SMTP, key: str) -> tuple[int, bytes]:
    """One AUTH PLAIN with ``key`` (smtplib's login() would go on to try LOGIN too)."""
    client.user, client.password = "apikey", key
    try:
        return client.auth("PLAIN", client.auth_plain)
    except smtplib.SMTPAuthenticationError as refused:
        return refused.smtp_code, refused.smtp_error


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_auth_before_starttls_is_refused_with_538(submission, api_key):
    client = smtplib.SMTP("127.0.0.1", submission.port, timeout=10)
    client.ehlo()
    assert "auth" not in client.esmtp_features  # not even offered in clear
    code, reply = client.docmd("AUTH", "PLAIN AGFwaWtleQBzZWNyZXQ=")
    assert code == 538 and b"5.7.11 Encryption required" in reply
    client.quit()


def test_mail_from_without_auth_is_530_no_open_relay(submission, engine):
    client = submission.starttls()
    code, reply = client.mail("news@example.com")
    assert code == 530
    with pytest.raises(smtplib.SMTPSenderRefused):
        client.sendmail("news@example.com", ["to@dest.test"], b"Subject: x\r\n\r\nbody\r\n")
    client.quit()
    assert count(engine, "messages") == 0


def test_only_plain_and_login_are_offered_after_starttls(submission):
    client = submission.starttls()
    client.ehlo()
    assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
    assert client.esmtp_features["size"] == str(submission.settings.smtp_max_size)
    client.quit()


def test_a_wrong_key_is_535_slowed_and_a_guessing_address_is_then_refused(
        start_submission, api_key):
    submission = start_submission(auth_failure_burst=2, auth_failure_rate=0.01)
    client = submission.starttls()
    codes = []
    started = time.monotonic()
    for guess in ("mp_guess1", "mp_guess2"):
        codes.append(auth_plain(client, guess)[0])
    slowed = time.monotonic() - started
    assert codes == [535, 535]
    assert slowed >= 2 * submission.handler.failure_pause
    # The budget is spent: even the right key is refused now, before any lookup.
    code, reply = auth_plain(client, api_key[1])
    assert code == 454 and b"too many failed authentications from 127.0.0.1" in reply
    client.quit()


def test_auth_login_takes_the_key_and_ignores_the_user_name(submission, api_key):
    client = submission.starttls()
    client.user, client.password = "anything at all", api_key[1]
    code, _ = client.auth("LOGIN", client.auth_login)
    assert code == 235
    client.quit()


def test_a_key_over_its_intake_budget_is_451_at_mail_from(submission, engine):
    with engine.begin() as conn:
        _, slow = create_key(conn, "slow", [], intake_rate=0.01)  # bursts of 1
    client = submission.starttls(slow)
    assert client.mail("news@example.com")[0] == 250
    client.rset()
    code, reply = client.mail("news@example.com")
    assert code == 451 and b"4.7.1 this API key is over its budget" in reply
    client.quit()


def test_a_key_revoked_after_auth_is_refused_at_the_next_mail_from(submission, engine, api_key):
    client = submission.starttls(api_key[1])
    assert client.mail("news@example.com")[0] == 250
    client.rset()
    with engine.begin() as conn:
        revoke_key(conn, api_key[0].id)
    code, reply = client.mail("news@example.com")
    assert code == 530 and b"revoked" in reply
    assert client.mail("news@example.com")[0] == 530  # authenticated no more
    client.quit()


def test_a_sender_outside_the_keys_domains_is_550_at_mail_from(submission, example_key):
    client = submission.starttls(example_key[1])
    code, reply = client.mail("someone@other.test")
    assert code == 550
    assert b"5.7.1" in reply and b"not in this key's allowed sender domains" in reply
    assert client.mail("news@example.com")[0] == 250
    client.quit()


def test_a_size_too_big_is_552_at_mail_from_and_data_too_big_is_552(
        start_submission, api_key, engine):
    submission = start_submission(smtp_max_size=4096)
    client = submission.starttls(api_key[1])
    code, _ = client.mail("news@example.com", ["SIZE=5000"])
    assert code == 552
    client.rset()
    assert client.mail("news@example.com")[0] == 250  # no SIZE given: found at DATA
    assert client.rcpt("to@dest.test")[0] == 250
    big = b"From: news@example.com\r\nSubject: big\r\n\r\n" + b"x" * 70 + b"\r\n"
    code, _ = client.data(big * 80)
    assert code == 552
    client.quit()
    assert count(engine, "messages") == 0 and count(engine, "contents") == 0


def test_recipient_syntax_is_553_and_the_cap_is_452(start_submission, api_key, engine):
    submission = start_submission(max_recipients_per_request=2)
    client = submission.starttls(api_key[1])
    client.mail("news@example.com")
    assert client.rcpt("not-an-address")[0] == 553
    assert client.rcpt("a@dest.test")[0] == 250
    assert client.rcpt("A@dest.test")[0] == 250  # the same address: once
    assert client.rcpt("b@dest.test")[0] == 250
    code, reply = client.rcpt("c@dest.test")
    assert code == 452 and b"4.5.3" in reply
    code, _ = client.data(korean_message(bcc=None).as_bytes(policy=policy.SMTP))
    assert code == 250
    client.quit()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT to_addr FROM messages ORDER BY id")).scalars().all()
    assert rows == ["a@dest.test", "b@dest.test"]


def test_a_header_from_outside_the_keys_domains_is_550_after_data_and_stores_nothing(
        submission, example_key, engine):
    client = submission.starttls(example_key[1])
    client.mail("news@example.com")
    client.rcpt("to@dest.test")
    message = korean_message(sender="Spoof <ceo@bank.test>")
    code, reply = client.data(message.as_bytes(policy=policy.SMTP))
    assert code == 550
    assert b"From: ceo@bank.test is not in this key's allowed sender domains" in reply
    client.quit()
    assert count(engine, "messages") == 0 and count(engine, "contents") == 0


def test_a_bad_instruction_header_is_550_naming_it(submission, api_key, engine):
    client = submission.starttls(api_key[1])
    client.mail("news@example.com")
    client.rcpt("to@dest.test")
    message = korean_message(X_Mailpipe_Scheduled_At="tomorrow")
    code, reply = client.data(message.as_bytes(policy=policy.SMTP))
    assert code == 550 and b"X-Mailpipe-Scheduled-At" in reply
    client.quit()
    assert count(engine, "messages") == 0


def test_data_cut_mid_stream_stores_nothing(submission, api_key, engine):
    client = submission.implicit(api_key[1])
    client.mail("news@example.com")
    client.rcpt("to@dest.test")
    assert client.docmd("DATA")[0] == 354
    client.send(korean_message().as_bytes(policy=policy.SMTP)[:400])
    client.sock.close()  # the connection dies before the final dot
    client.close()
    time.sleep(0.5)
    assert count(engine, "messages") == 0 and count(engine, "contents") == 0
    # The server is still serving.
    again = submission.implicit(api_key[1])
    assert again.noop()[0] == 250
    again.quit()


def test_at_shutdown_the_transaction_in_flight_finishes_and_no_new_one_starts(
        submission, api_key, engine):
    busy, idle = submission.starttls(api_key[1]), submission.starttls(api_key[1])
    busy.mail("news@example.com")
    busy.rcpt("to@dest.test")
    assert busy.docmd("DATA")[0] == 354
    message = korean_message(bcc=None, cc=None).as_bytes(policy=policy.SMTP)
    busy.send(message[:300])
    stopping = threading.Thread(target=submission.stop)
    stopping.start()
    wait_for(lambda: submission.handler.stopping, 5, "the shutdown to begin", poll=0.05)
    code, reply = idle.mail("news@example.com")
    assert code == 421 and b"shutting down" in reply
    busy.send(message[300:] + b".\r\n")
    assert busy.getreply()[0] == 250
    stopping.join(10)
    assert not submission.thread.is_alive()  # drained: it stopped without waiting longer
    assert count(engine, "messages") == 1


def test_replies_and_submissions_are_counted_for_metrics(submission, api_key, example_key):
    def value(name: str, **labels) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {code: value("mailpipe_smtp_replies_total", code=code)
              for code in ("235", "535", "550")}
    accepted = value("mailpipe_smtp_submissions_total", outcome="accepted")
    refused = value("mailpipe_smtp_submissions_total", outcome="refused")
    rows = value("mailpipe_smtp_rows_total")
    client = submission.starttls()
    auth_plain(client, "mp_wrong")
    client.login("apikey", example_key[1])
    client.sendmail("news@example.com", ["a@dest.test", "b@dest.test"],
                    korean_message(bcc=None, cc=None).as_bytes(policy=policy.SMTP))
    with pytest.raises(smtplib.SMTPDataError):
        client.sendmail("news@example.com", ["a@dest.test"],
                        korean_message(sender="x@other.test").as_bytes(policy=policy.SMTP))
    client.quit()
    assert value("mailpipe_smtp_replies_total", code="235") == before["235"] + 1
    assert value("mailpipe_smtp_replies_total", code="535") == before["535"] + 1
    assert value("mailpipe_smtp_replies_total", code="550") == before["550"] + 1
    assert value("mailpipe_smtp_submissions_total", outcome="accepted") == accepted + 1
    assert value("mailpipe_smtp_submissions_total", outcome="refused") == refused + 1
    assert value("mailpipe_smtp_rows_total") == rows + 2
