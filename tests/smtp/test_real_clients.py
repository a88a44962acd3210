"""Apps that already speak SMTP, switched to mailpipe: nodemailer and Jakarta Mail for real.

Each client (tests/support/smtp_clients: nodemailer from the npm registry, Jakarta Mail
from Debian, installed by the suite) submits to a real ``mailpipe smtp`` process over
STARTTLS and over implicit TLS with AUTH: a Korean subject, display names and file name, an
attachment, To + Cc + Bcc. Real sender and recorder processes send through SES (the
suite's scripted SES over HTTP). Every envelope recipient reaches SES once, alone, its
bytes those mailpipe stored (only the header block changed: no Bcc); the refusals a
client sees come before any message is stored.
"""

from __future__ import annotations

import base64
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email import message_from_bytes, policy
from email.utils import getaddresses
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import text

from services.up import Stack
from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.rendering.submitted import split_headers
from shared.runtime.heartbeat import alive
from shared.runtime.localservers import free_port
from shared.settings import load_settings
from tests.support import smtp_clients
from tests.support.fake_ses import ScriptedSes
from tests.support.smtp_clients import (
    CLIENTS,
    ClientUnavailable,
    Outcome,
    Submission,
    npm_ci,
)
from tests.support.smtp_server import make_certificate
from tests.support.stack import settings_env, wait_for

#: Small, so a too-big message is cheap to make.
MAX_SIZE = 200_000
SUBJECT = "월간 보고서 — 안녕하세요"
SENDER = "보내는 사람 <app@example.com>"
FILE_NAME = "월간 보고서 (최종).bin"


@dataclass
class SmtpRun:
    """``mailpipe smtp`` with a sender and a recorder, sending to ``ses``."""

    stack: Stack
    ses: ScriptedSes
    engine: object
    redis: redis_lib.Redis
    port: int
    tls_port: int
    cafile: Path
    key: str
    logs: Path

    def job(self, mode: str, **fields) -> Submission:
        defaults = {"user": "apikey", "password": self.key, "sender": SENDER,
                    "subject": SUBJECT, "text": "본문입니다.\n"}
        return Submission(host="127.0.0.1", port=self.port if mode == "starttls" else self.tls_port,
                          mode=mode, cafile=self.cafile, **{**defaults, **fields})

    def sent_to(self, address: str) -> list[bytes]:
        """The raw messages SES accepted for ``address`` (as the only destination)."""
        found = []
        for request in list(self.ses.accepted):
            if address in request["Destination"]["ToAddresses"]:
                assert request["Destination"]["ToAddresses"] == [address], request["Destination"]
                found.append(base64.b64decode(request["Content"]["Raw"]["Data"]))
        return found

    def stored(self, address: str) -> list[bytes]:
        """The submitted bytes mailpipe stored for each message row to ``address``."""
        with self.engine.connect() as conn:
            return [bytes(raw) for raw in conn.execute(text(
                "SELECT c.raw_mime FROM messages m JOIN contents c ON c.id = m.content_id "
                "WHERE m.to_addr = :a"), {"a": address}).scalars()]

    def failure(self) -> str:
        """The processes' logs, for a failing assertion."""
        return "".join(f"\n--- {log.name}\n{log.read_text()[-3000:]}"
                       for log in sorted(self.logs.glob("*.log")))


@pytest.fixture(scope="module")
def smtp_run(postgres, redis_server, tmp_path_factory) -> Iterator[SmtpRun]:
    base = tmp_path_factory.mktemp("smtp-clients")
    cert, key_file = make_certificate(base)
    ses = ScriptedSes()
    engine = make_engine(postgres.url)
    with engine.begin() as conn:
        _, plain = create_key(conn, "smtp clients", ["example.com"])
    port, tls_port = free_port(), free_port()
    settings = load_settings(database_url=postgres.url, redis_url=redis_server.url,
                             transport="ses", send_rate=1000, file_dir=base / "outbox",
                             _env_file=None)
    env = settings_env(
        settings, MAILPIPE_SMTP_CERT_FILE=str(cert), MAILPIPE_SMTP_KEY_FILE=str(key_file),
        MAILPIPE_SMTP_MAX_SIZE=str(MAX_SIZE), AWS_ENDPOINT_URL_SESV2=ses.url,
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
    stack = Stack(env, log_dir=base / "logs")
    stack.start("smtp", "smtp", "--bind", f"127.0.0.1:{port}", "--tls-bind",
                f"127.0.0.1:{tls_port}")
    stack.start("sender", "sender", "--processes", "1", "--threads", "4")
    stack.start("recorder", "recorder")
    run = SmtpRun(stack, ses, engine, redis_lib.Redis.from_url(redis_server.url), port,
                  tls_port, cert, plain, base / "logs")
    try:
        for listener in (port, tls_port):
            try:
                wait_for(lambda p=listener: _listening(p), 30, f"mailpipe smtp on {listener}")
            except AssertionError as exc:
                raise AssertionError(f"{exc}{run.failure()}") from None
        yield run
    finally:
        stack.stop_all()
        ses.close()
        run.redis.close()
        engine.dispose()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _send(client: str, job: Submission) -> Outcome:
    try:
        return CLIENTS[client](job)
    except ClientUnavailable as exc:
        pytest.fail(f"{client} could not be installed or run: {exc}")


def _attachment(folder: Path, size: int) -> Path:
    path = folder / "attachment.bin"
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize("mode", ["starttls", "tls"])
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_each_envelope_recipient_gets_the_submitted_bytes_once_and_nobody_sees_bcc(
        smtp_run, tmp_path, client, mode):
    tag = f"{client}-{mode}-{uuid.uuid4().hex[:6]}"
    to, cc, bcc = f"to-{tag}@dest.test", f"cc-{tag}@dest.test", f"bcc-{tag}@dest.test"
    attachment = _attachment(tmp_path, 20_000)
    message_id = f"<{tag}@example.com>"
    outcome = _send(client, smtp_run.job(
        mode, to=[f"받는 사람 <{to}>"], cc=[f"참조인 <{cc}>"], bcc=[bcc],
        attachments=[(attachment, FILE_NAME)], message_id=message_id))
    assert outcome.ok, (outcome, smtp_run.failure())

    recipients = (to, cc, bcc)
    wait_for(lambda: all(smtp_run.sent_to(a) for a in recipients), 30,
             "SES to receive every envelope recipient's message")
    time.sleep(1)  # a second send of any of them would have come by now
    for address in recipients:
        [raw] = smtp_run.sent_to(address)
        [stored] = smtp_run.stored(address)
        # The body's bytes are the client's, untouched; only the header block changed.
        assert split_headers(raw)[2] == split_headers(stored)[2]
        assert b"\nbcc:" not in raw.lower() and bcc.encode() not in raw
        sent = message_from_bytes(raw, policy=policy.default)
        assert sent["Message-ID"] == message_id
        assert str(sent["Subject"]) == SUBJECT
        assert getaddresses([str(sent["From"])]) == [("보내는 사람", "app@example.com")]
        assert getaddresses([str(sent["To"])]) == [("받는 사람", to)]
        assert getaddresses([str(sent["Cc"])]) == [("참조인", cc)]
        [part] = list(sent.iter_attachments())
        assert part.get_filename() == FILE_NAME
        assert part.get_content() == attachment.read_bytes()


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_wrong_key_is_refused_at_auth_with_535(smtp_run, client):
    job = smtp_run.job("starttls", to=[f"wrong-key-{client}@dest.test"])
    outcome = _send(client, replace(job, password="mp_not-a-key"))
    assert (outcome.ok, outcome.code) == (False, 535), outcome
    assert "AUTH" in outcome.command
    assert smtp_run.stored(f"wrong-key-{client}@dest.test") == []


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_sender_outside_the_keys_domains_is_refused_at_mail_from_with_550(smtp_run, client):
    address = f"foreign-{client}@dest.test"
    outcome = _send(client, smtp_run.job("tls", to=[address], sender="앱 <app@other.test>"))
    assert (outcome.ok, outcome.code) == (False, 550), outcome
    assert outcome.command.upper().startswith("MAIL FROM"), outcome
    assert smtp_run.stored(address) == []


def test_nodemailer_declaring_a_too_big_size_stops_before_mail_from_on_the_announced_size(
        smtp_run, tmp_path):
    """nodemailer sends SIZE= only when told the size, and then refuses by itself against
    the SIZE mailpipe announced in EHLO: nothing reaches the server."""
    address = "declared-big@dest.test"
    attachment = _attachment(tmp_path, MAX_SIZE + 50_000)
    outcome = _send("nodemailer", smtp_run.job(
        "starttls", to=[address], attachments=[(attachment, FILE_NAME)],
        envelope_size=attachment.stat().st_size * 4 // 3))
    assert not outcome.ok and outcome.error == "EMESSAGE", outcome
    assert f"larger than allowed {MAX_SIZE}" in outcome.message
    assert smtp_run.stored(address) == []


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_too_big_message_from_a_client_that_declares_no_size_is_refused_with_552(
        smtp_run, tmp_path, client):
    address = f"too-big-{client}@dest.test"
    attachment = _attachment(tmp_path, MAX_SIZE + 50_000)
    outcome = _send(client, smtp_run.job("tls", to=[address],
                                         attachments=[(attachment, FILE_NAME)]))
    assert (outcome.ok, outcome.code) == (False, 552), outcome
    assert smtp_run.stored(address) == []


def test_the_smtp_process_beats_so_the_dashboard_lists_it(smtp_run):
    pid = smtp_run.stack.processes["smtp"].pid
    beating = wait_for(lambda: [a for a in alive(smtp_run.redis) if a.kind == "smtp"], 15,
                       "the smtp process's heartbeat")
    assert [a.pid for a in beating] == [pid]


def test_a_client_that_cannot_be_installed_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, npm, java or javac
    with pytest.raises(ClientUnavailable, match="nodemailer needs node, which is not installed "
                       r"\(apt-get install nodejs npm; scripts/test does\)"):
        npm_ci(smtp_clients.HERE, tmp_path / "node", "nodemailer")
    monkeypatch.setattr(smtp_clients, "JAVA_JARS", (tmp_path / "jakarta-mail.jar",))
    with pytest.raises(ClientUnavailable, match="apt-get install libjakarta-mail-java"):
        smtp_clients.compile_java()


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_the_same_message_sent_again_is_answered_250_and_sent_once(smtp_run, client):
    """An app that lost the connection after DATA sends the message again: the same key,
    Message-ID and recipients within 24 hours create nothing the second time."""
    tag = f"again-{client}-{uuid.uuid4().hex[:6]}"
    to, bcc = f"to-{tag}@dest.test", f"bcc-{tag}@dest.test"
    job = smtp_run.job("starttls", to=[to], bcc=[bcc], message_id=f"<{tag}@example.com>")
    first, second = _send(client, job), _send(client, job)
    assert first.ok and second.ok, (first, second)
    wait_for(lambda: smtp_run.sent_to(to) and smtp_run.sent_to(bcc), 30, "the first sends")
    time.sleep(1)
    assert (len(smtp_run.sent_to(to)), len(smtp_run.sent_to(bcc))) == (1, 1)
    assert (len(smtp_run.stored(to)), len(smtp_run.stored(bcc))) == (1, 1)
