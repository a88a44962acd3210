"""``mailpipe smtp`` as the real process: refuses to start without TLS; serves its
``/metrics``; on SIGTERM stops accepting, lets the transaction in flight finish and exits 0."""

from __future__ import annotations

import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from email import policy

import requests
from sqlalchemy import text

from shared.runtime.localservers import free_port
from tests.smtp.messages import korean_message
from tests.support.stack import settings_env, wait_for

MAILPIPE = [sys.executable, "-c", "from services.cli import main; main()"]


def mailpipe_smtp(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([*MAILPIPE, "smtp", *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_the_commands_parser_loads_no_metrics_library():
    # prometheus_client picks its multiprocess mode when imported: it must wait for
    # shared.metrics.setup.prepare, which runs after the arguments are parsed.
    code = ("import sys; from services.cli import _parser; _parser(); "
            "print('prometheus_client' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True).stdout
    assert loaded.strip() == "False"


def test_without_a_certificate_it_refuses_to_start_saying_why(settings):
    env = settings_env(settings, MAILPIPE_SMTP_CERT_FILE="", MAILPIPE_SMTP_KEY_FILE="")
    process = mailpipe_smtp(env, "--bind", f"127.0.0.1:{free_port()}", "--tls-bind", "none")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert b"needs MAILPIPE_SMTP_CERT_FILE and MAILPIPE_SMTP_KEY_FILE" in err


def test_sigterm_lets_the_transaction_in_flight_finish_then_exits_0(
        settings, smtp_cert, engine, api_key):
    port, metrics_port = free_port(), free_port()
    env = settings_env(settings, MAILPIPE_SMTP_CERT_FILE=str(smtp_cert[0]),
                       MAILPIPE_SMTP_KEY_FILE=str(smtp_cert[1]),
                       MAILPIPE_METRICS_HOST="127.0.0.1",
                       MAILPIPE_METRICS_PORT_SMTP=str(metrics_port))
    process = mailpipe_smtp(env, "--bind", f"127.0.0.1:{port}", "--tls-bind", "none")
    try:
        client = wait_for(lambda: _connect(port), 30, "mailpipe smtp to listen")
        client.starttls(context=ssl.create_default_context(cafile=str(smtp_cert[0])))
        client.ehlo()
        client.login("apikey", api_key[1])
        metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        assert 'mailpipe_smtp_replies_total{code="235"} 1.0' in metrics
        client.mail("news@example.com")
        client.rcpt("to@dest.test")
        assert client.docmd("DATA")[0] == 354
        message = korean_message(bcc=None, cc=None).as_bytes(policy=policy.SMTP)
        client.send(message[:300])

        process.send_signal(signal.SIGTERM)
        wait_for(lambda: _connect(port) is None, 10, "the listener to close")
        time.sleep(0.5)
        assert process.poll() is None  # still draining: the transaction is in flight
        client.send(message[300:] + b".\r\n")
        assert client.getreply()[0] == 250
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_addr FROM messages")).scalars().all() == [
            "to@dest.test"]


def _connect(port: int) -> smtplib.SMTP | None:
    try:
        return smtplib.SMTP("127.0.0.1", port, timeout=5)
    except OSError:
        return None
