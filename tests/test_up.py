"""`mailpipe up`: what it says, and a real run as a newcomer starts it.

The run (one per module: PostgreSQL's first start takes a while, with
SENTRY_DSN set to a local envelope server) proves that every process starts
and what a newcomer should see: tracking, clicks and one-click unsubscribe on a
sent message, ``/`` leading to the console, metrics on 127.0.0.1 only, an
app submitting over SMTP (both listeners) to the certificate whose
fingerprint up printed, a private data folder, a quiet scheduler log and
nothing left behind. The last of its tests stops it.
"""

from __future__ import annotations

import email
import os
import re
import signal
import smtplib
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import psutil
import pytest
import requests

from services.up import (
    METRICS_KINDS,
    _local_values,
    _private_data_folder,
    _secret_key,
    transport_summary,
)
from shared.runtime.certificate import file_fingerprint, fingerprint
from shared.runtime.localservers import free_port
from shared.settings import LocalSettings, load_settings
from tests.support.net import listening_addresses
from tests.support.sentry_server import SentryServer
from tests.support.stack import running_stack, settings_env, wait_for, wait_for_http


def _summary(**settings) -> str:
    return transport_summary(load_settings(database_url="postgresql+psycopg://x/y",
                                           _env_file=None, **settings))


def test_ses_transport_says_messages_go_to_ses_not_the_outbox():
    line = _summary(transport="ses", aws_region="ap-northeast-2")
    assert "Amazon SES in ap-northeast-2" in line and "written" not in line


def test_smtp_transport_names_the_server_without_its_password():
    line = _summary(transport="smtp", smtp_url="smtp://user:s3cret@relay.example.com:587")
    assert "smtp://relay.example.com:587" in line and "s3cret" not in line


def test_file_transport_says_messages_are_written_not_sent(tmp_path):
    line = _summary(transport="file", file_dir=tmp_path / "outbox")
    assert f"written to {tmp_path / 'outbox'}, not sent" in line


# --- up's own values: kept, and the operator's when set --------------------------------


def test_the_secret_key_is_generated_once_private_and_reused(tmp_path):
    key_file = tmp_path / "secret-key"
    first = _secret_key(key_file)
    assert len(first) >= 40 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert _secret_key(key_file) == first  # links in mail already sent keep working


def test_a_data_folder_made_by_an_older_up_is_made_private(tmp_path):
    root = tmp_path / ".mailpipe"
    (root / "logs").mkdir(parents=True, mode=0o755)
    (root / "outbox").mkdir(mode=0o755)
    (root / "logs" / "api.log").write_text("x")
    (root / "logs" / "api.log").chmod(0o644)
    umask = os.umask(0o022)
    try:
        _private_data_folder(root)
        assert os.umask(0o022) == 0o077  # and so for every process up starts
    finally:
        os.umask(umask)
    for path, mode in ((root, 0o700), (root / "logs", 0o700), (root / "outbox", 0o700),
                       (root / "logs" / "api.log", 0o600)):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_up_uses_its_own_address_and_local_metrics_unless_the_operator_set_them(tmp_path):
    values = _local_values(LocalSettings(_env_file=None), tmp_path, 8123)
    assert values["public_url"] == "http://127.0.0.1:8123"
    assert values["secret_key"] == (tmp_path / "secret-key").read_text().strip()
    assert values["metrics_host"] == "127.0.0.1" and values["metrics_dir"] == tmp_path / "metrics"
    assert all(values[f"metrics_port_{k}"] not in (0, 9101, 9102, 9103) for k in METRICS_KINDS)
    assert values["smtp_cert_file"] == tmp_path / "smtp-cert.pem"
    assert stat.S_IMODE(values["smtp_key_file"].stat().st_mode) == 0o600
    pinned = file_fingerprint(values["smtp_cert_file"])
    again = _local_values(LocalSettings(_env_file=None), tmp_path, 8123)
    assert file_fingerprint(again["smtp_cert_file"]) == pinned  # made once, then reused

    chosen = _local_values(LocalSettings(_env_file=None, secret_key="mine",
                                         public_url="https://mail.example.com",
                                         metrics_port_sender=0), tmp_path / "other", 8123)
    assert chosen["secret_key"] == "mine" and not (tmp_path / "other" / "secret-key").exists()
    assert chosen["public_url"] == "https://mail.example.com"
    assert chosen["metrics_port_sender"] == 0

    theirs = _local_values(LocalSettings(_env_file=None, smtp_cert_file=tmp_path / "c.pem",
                                         smtp_key_file=tmp_path / "k.pem"), tmp_path / "x", 1)
    assert (theirs["smtp_cert_file"], theirs["smtp_key_file"]) == (tmp_path / "c.pem",
                                                                   tmp_path / "k.pem")
    assert not (tmp_path / "x" / "smtp-cert.pem").exists()


# --- a real `mailpipe up`, as a newcomer runs it ----------------------------------------

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LocalRun:
    """One `mailpipe up` in a folder of its own, its temporary folder (TMPDIR) apart."""

    process: subprocess.Popen
    base: Path
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def temp(self) -> Path:
        return self.base / "tmp"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def wait(self, predicate, timeout: float, what: str):
        """``wait_for``, failing with what up printed and the end of every log."""
        try:
            return wait_for(predicate, timeout, what)
        except AssertionError as exc:
            logs = "".join(f"\n--- {log.name}\n" + log.read_text()[-3000:]
                           for log in sorted((self.data / "logs").glob("*.log")))
            raise AssertionError(f"{exc}\n--- up\n{self.output[-3000:]}{logs}") from None

    def key(self) -> dict[str, str]:
        return {"x-api-key": re.search(r"API key:\s+(\S+)", self.output).group(1)}

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C
            self.process.wait(90)
        return self.process.returncode


@pytest.fixture(scope="module")
def sentry() -> Iterator[SentryServer]:
    server = SentryServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, sentry) -> Iterator[LocalRun]:
    base = tmp_path_factory.mktemp("up")
    (base / "tmp").mkdir()
    # The operator set nothing; the run's cwd has no .env.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPIPE_")}
    env |= {"TMPDIR": str(base / "tmp"), "PYTHONPATH": str(ROOT), "SENTRY_DSN": sentry.dsn}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--data-dir", str(base / "data"),
         "--port", str(port)],
        cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = LocalRun(process, base, port)
    threading.Thread(target=run.read, daemon=True).start()
    try:
        wait_for(lambda: "API key:" in run.output or process.poll() is not None, 180,
                 "mailpipe up to start")
        assert process.poll() is None, run.output
        wait_for_http(run.url + "/health", timeout=60)
        yield run
    finally:
        run.stop()


def _metrics_ports(output: str) -> dict[str, tuple[str, int]]:
    line = re.search(r"metrics:\s+(.*)", output).group(1)
    return {kind: (host, int(port)) for kind, host, port
            in re.findall(r"(\w+) http://([\d.]+):(\d+)/metrics", line)}


def test_every_process_starts_and_stays_up_with_sentry_on(local_run, sentry):
    """sentry-sdk 3 refused 2.x's options at init: every process died at start."""
    time.sleep(2)  # a process that dies at start has done so by now
    kinds = {child.cmdline()[3] for child in psutil.Process(local_run.process.pid).children()
             if child.cmdline()[1:3] == ["-m", "services.cli"]}
    assert kinds == {"api", "scheduler", "sender", "recorder", "smtp", "webhooks"}, \
        local_run.output
    for log in (local_run.data / "logs").glob("*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    assert sentry.events() == []  # a healthy start reports no error


def test_up_says_tracking_is_on_through_its_own_address(local_run):
    assert f"tracking:  on  (opens, clicks and one-click unsubscribe; links to {local_run.url})" \
        in local_run.output


def test_the_root_sends_a_browser_to_the_console_and_tells_a_client_where_things_are(local_run):
    browser = requests.get(local_run.url + "/", allow_redirects=False, timeout=10,
                           headers={"Accept": "text/html,*/*;q=0.8", "User-Agent": BROWSER})
    assert browser.status_code == 302 and browser.headers["Location"] == "/ui"
    index = requests.get(local_run.url + "/", headers={"Accept": "application/json"},
                         timeout=10).json()
    assert index["links"] == {"console": "/ui", "docs": "/docs", "openapi": "/openapi.json",
                              "health": "/health"}


def _html_and_headers(eml: Path) -> tuple[str, email.message.Message]:
    message = email.message_from_bytes(eml.read_bytes())
    html = next(part for part in message.walk() if part.get_content_type() == "text/html")
    return html.get_payload(decode=True).decode(), message


def test_a_sent_message_shows_its_open_its_click_and_one_click_unsubscribe(local_run):
    key = local_run.key()
    sent = requests.post(local_run.url + "/v1/messages", headers=key, timeout=10, json={
        "messages": [{"topicId": "hello", "emails": ["you@example.com"], "subject": "Hello",
                      "bulk": True, "content": '<p>Hi <a href="https://example.com/x">x</a></p>'}]})
    assert sent.status_code == 200, sent.text
    message_id = sent.json()["messages"][0]["id"]
    outbox = local_run.data / "outbox"
    eml = local_run.wait(lambda: next(outbox.glob("*.eml"), None), 30, "the message in the outbox")
    html, headers = _html_and_headers(eml)

    unsubscribe = headers["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe.startswith(local_run.url + "/v1/unsubscribe?t=")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    opened = re.search(r'<img src="([^"]+/v1/events/open\?t=[^"]+)"', html).group(1)
    clicked = re.search(r'<a href="([^"]+/v1/events/click\?t=[^"]+)"', html).group(1)
    assert opened.startswith(local_run.url) and clicked.startswith(local_run.url)

    agent = {"User-Agent": BROWSER}
    assert requests.get(opened, headers=agent, timeout=10).status_code == 200
    click = requests.get(clicked, headers=agent, allow_redirects=False, timeout=10)
    assert click.status_code == 302 and click.headers["Location"] == "https://example.com/x"

    def events() -> set[str]:
        answer = requests.get(f"{local_run.url}/v1/messages/{message_id}", headers=key,
                              timeout=10).json()
        return {event["type"] for event in answer["events"]}

    local_run.wait(lambda: {"opened", "clicked"} <= events(), 30, "the open and the click recorded")

    one_click = requests.post(unsubscribe, data="List-Unsubscribe=One-Click", timeout=10,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert one_click.status_code < 300, one_click.text
    local_run.wait(lambda: requests.get(f"{local_run.url}/v1/suppressions/you@example.com",
                                        headers=key, timeout=10).status_code == 200,
                   30, "the address suppressed")


def test_local_metrics_listen_on_127_0_0_1_only_on_free_ports(local_run):
    ports = _metrics_ports(local_run.output)
    assert set(ports) == {"api", *METRICS_KINDS}
    for kind, (host, port) in ports.items():
        assert host == "127.0.0.1"
        assert listening_addresses(port) == {"127.0.0.1"}, kind
        assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 200
    assert not {port for _, port in ports.values()} & {9101, 9102, 9103, 9106}


def test_the_data_folder_is_its_owners_only(local_run):
    assert stat.S_IMODE((local_run.data / "secret-key").stat().st_mode) == 0o600
    assert list((local_run.data / "outbox").glob("*.eml")), "a message to check"
    for path in [local_run.data, *local_run.data.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISSOCK(mode):  # PostgreSQL's socket: 0777 by design, in a 0700 folder
            continue
        others = stat.S_IMODE(mode) & 0o077
        if path == local_run.data and os.geteuid() == 0:
            # As root, PostgreSQL runs as nobody, which must pass through (x, no read).
            others &= ~0o001
        assert not others, f"{path} is {oct(stat.S_IMODE(mode))}"


def test_the_scheduler_log_says_what_was_done_not_that_jobs_ran(local_run):
    time.sleep(3)  # a few ticks of every one-second job
    log = (local_run.data / "logs" / "scheduler.log").read_text()
    assert "Running job" not in log and "executed successfully" not in log
    assert len(log.splitlines()) < 10, log


def _smtp_listeners(output: str) -> tuple[int, int, str]:
    """(STARTTLS port, implicit-TLS port, certificate fingerprint) as up printed them."""
    ports = re.search(r"smtp:\s+127\.0\.0\.1:(\d+) \(STARTTLS\), "
                      r"127\.0\.0\.1:(\d+) \(implicit TLS\)", output)
    pinned = re.search(r"certificate SHA-256 ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})", output)
    assert ports and pinned, output
    return int(ports.group(1)), int(ports.group(2)), pinned.group(1)


def test_an_app_submits_over_smtp_to_the_certificate_up_printed(local_run):
    starttls, implicit, pinned = _smtp_listeners(local_run.output)
    assert pinned == file_fingerprint(local_run.data / "smtp-cert.pem")
    assert listening_addresses(starttls) == listening_addresses(implicit) == {"127.0.0.1"}
    # Pinned, not trusted through a CA: the session is believed only when the certificate
    # the server shows is the one whose fingerprint up printed.
    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
    for port, tls in ((starttls, False), (implicit, True)):
        with (smtplib.SMTP_SSL("127.0.0.1", port, context=unverified, timeout=20) if tls
              else smtplib.SMTP("127.0.0.1", port, timeout=20)) as client:
            if not tls:
                client.starttls(context=unverified)
            assert fingerprint(client.sock.getpeercert(binary_form=True)) == pinned
            client.login("apikey", local_run.key()["x-api-key"])
            message = EmailMessage()
            message["From"], message["To"] = "App <app@example.com>", f"smtp{port}@example.com"
            message["Subject"], message["X-Mailpipe-Topic"] = f"over {port}", "up-smtp"
            message.set_content("Hello over SMTP")
            assert client.send_message(message) == {}
    outbox = local_run.data / "outbox"

    def written() -> set[str]:
        return {email.message_from_bytes(eml.read_bytes())["To"] for eml in outbox.glob("*.eml")}

    local_run.wait(lambda: {f"smtp{starttls}@example.com", f"smtp{implicit}@example.com"}
                   <= written(), 30, "both submissions sent to the outbox")
    topic = requests.get(f"{local_run.url}/v1/topics/up-smtp", headers=local_run.key(),
                         timeout=10).json()
    assert topic["total"] == 2, topic


def test_a_clean_stop_leaves_nothing_in_the_temporary_folder(local_run):
    assert local_run.stop() == 0, local_run.output
    assert list(local_run.temp.iterdir()) == []
    assert not (local_run.data / "metrics").exists()


def test_stopped_processes_remove_their_metrics_files_from_the_temporary_folder(
        settings, tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    with running_stack(settings_env(settings, TMPDIR=str(temp)), tmp_path / "logs"):
        wait_for(lambda: len(list(temp.iterdir())) == 3, 30, "api, sender and recorder folders")
    assert list(temp.iterdir()) == []
