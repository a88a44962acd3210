"""`mailpipe up`: the whole service on one machine, PostgreSQL and Redis included.

``Stack`` starts and stops mailpipe's processes as subprocesses; the
end-to-end tests and the benches use it too, so they run exactly what an
operator runs.

Everything a local run needs is set unless the operator set it: the
``file`` transport, a secret key kept in the data folder (so tracking and
one-click unsubscribe work, and keep working across restarts), the public
URL at up's own address, metrics on 127.0.0.1 at free ports (a second
run on the machine takes others), and the SMTP submission server on two free
ports of 127.0.0.1 (STARTTLS and implicit TLS) with a self-signed certificate
made in the data folder on the first start and reused, so a client that
trusted it or pinned its fingerprint keeps working. The data folder is its owner's only:
up and every process it starts create files 0600 and folders 0700, and a
clean stop removes the metrics files it made.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.exc import SQLAlchemyError

from services.console.admins import LOCAL_ADMIN, first_admin
from shared.db.engine import make_engine
from shared.db.keys import create_key, find_active_key
from shared.db.migrate import upgrade
from shared.runtime.certificate import file_fingerprint, kept_self_signed
from shared.runtime.localservers import (
    LocalServer,
    free_port,
    kept_secret,
    start_postgres,
    start_redis,
    write_private,
)
from shared.settings import PREFIX, LocalSettings, Settings, load_local_settings

DEV_FROM = "mailpipe@localhost.localdomain"
#: Process kinds serving /metrics on a port of their own (the api serves it on its port).
METRICS_KINDS = ("scheduler", "sender", "recorder", "webhooks", "smtp")


class Stack:
    """mailpipe processes started with one environment; stopped together."""

    def __init__(self, env: dict[str, str], log_dir: Path | None = None) -> None:
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.commands: dict[str, list[str]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        """Run ``mailpipe ARGS`` as process ``name`` (output to ``log_dir/name.log``)."""
        command = [sys.executable, "-m", "services.cli", *args]
        out = None
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(command, env=self.env, stdout=out, stderr=subprocess.STDOUT
                                   if out else None, start_new_session=True)
        self.processes[name] = process
        self.commands[name] = list(args)
        return process

    def restart_dead(self) -> list[str]:
        """Start again any process that exited; returns their names."""
        dead = [name for name, p in self.processes.items() if p.poll() is not None]
        for name in dead:
            self.start(name, *self.commands[name])
        return dead

    def signal(self, name: str, signum: int) -> None:
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signum)

    def stop(self, name: str, timeout: float = 40.0) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop_all(self, timeout: float = 40.0) -> None:
        for name in list(self.processes):
            if self.processes[name].poll() is None:
                os.killpg(self.processes[name].pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name in list(self.processes):
            try:
                self.processes[name].wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(self.processes[name].pid, signal.SIGKILL)
                self.processes[name].wait()
            del self.processes[name]


def _dev_key(database_url: str, key_file: Path) -> str:
    """The local development key: reused across runs, created on the first."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            if key_file.exists():
                plain = key_file.read_text().strip()
                if find_active_key(conn, plain):
                    return plain
            _, plain = create_key(conn, "local development", [])
        write_private(key_file, plain + "\n")
        return plain
    finally:
        engine.dispose()


def _secret_key(key_file: Path) -> str:
    """The local MAILPIPE_SECRET_KEY: generated on the first start, then reused.

    It signs tracking and unsubscribe links and encrypts tenants' SMTP
    passwords: a new one each start would break the links in mail already
    sent and make stored passwords unreadable.
    """
    return kept_secret(key_file)


def _private_data_folder(root: Path) -> None:
    """Make the data folder its owner's only, and keep it so.

    The umask is inherited by every process up starts: logs, outbox files,
    metrics files and the servers' data are created 0600, folders 0700.
    Folders made by an older up (world-readable) are tightened here.
    """
    os.umask(0o077)
    root.mkdir(parents=True, exist_ok=True)
    for folder in (root, root / "logs", root / "outbox", root / "metrics"):
        if folder.is_dir():
            folder.chmod(0o700)
    for log in (root / "logs").glob("*.log"):
        log.chmod(0o600)


def _first_admin(database_url: str) -> str | None:
    """The console's first local admin, made on the first start (its password, once)."""
    engine = make_engine(database_url, pool_size=1)
    try:
        return first_admin(engine)
    finally:
        engine.dispose()


def _start_servers(local: LocalSettings, data_dir: Path) -> tuple[list[LocalServer], str, str]:
    """The configured PostgreSQL and Redis, or ones started here for those left unset."""
    servers: list[LocalServer] = []
    database_url, redis_url = local.database_url, local.redis_url
    if not database_url:
        servers.append(start_postgres(data_dir / "postgres"))
        database_url = servers[-1].url
    if not redis_url:
        servers.append(start_redis(data_dir / "redis"))
        redis_url = servers[-1].url
    return servers, database_url, redis_url


def _local_values(local: LocalSettings, root: Path, port: int) -> dict[str, object]:
    """up's value of each setting it gives a local default, by field name; the
    operator's where the environment (or .env) sets it."""
    ours: dict[str, object] = {
        "transport": "file",
        "file_dir": root / "outbox",
        "default_from": DEV_FROM,
        # Tracking pixels, click redirects and unsubscribe links point here.
        "public_url": f"http://127.0.0.1:{port}",
        "metrics_host": "127.0.0.1",
        "metrics_dir": root / "metrics",
        **{f"metrics_port_{kind}": free_port() for kind in METRICS_KINDS},
    }
    values = {name: getattr(local, name) if name in local.model_fields_set else value
              for name, value in ours.items()}
    values["secret_key"] = (local.secret_key if "secret_key" in local.model_fields_set
                            else _secret_key(root / "secret-key"))
    certificate = {"smtp_cert_file", "smtp_key_file"}
    if certificate & local.model_fields_set:  # the operator's, even half given (smtp says so)
        values.update({name: getattr(local, name) for name in certificate})
    else:
        values["smtp_cert_file"], values["smtp_key_file"] = kept_self_signed(root)
    return values


def _environment(values: dict[str, object]) -> dict[str, str]:
    return {PREFIX + name.upper(): "" if value is None else str(value)
            for name, value in values.items()}


def main(data_dir: str, port: int, senders: int) -> int:
    local = load_local_settings()
    root = Path(data_dir).resolve()
    _private_data_folder(root)
    values = _local_values(local, root, port)
    print(f"mailpipe: starting PostgreSQL and Redis (data in {root})", flush=True)
    servers, database_url, redis_url = _start_servers(local, root)
    stack = None
    try:
        upgrade(database_url)
        key = _dev_key(database_url, root / "dev-api-key")
        admin_password = _first_admin(database_url)
        env = {"MAILPIPE_DATABASE_URL": database_url, "MAILPIPE_REDIS_URL": redis_url,
               **_environment(values)}
        stack = Stack(env, log_dir=root / "logs")
        stack.start("api", "api", "--bind", f"127.0.0.1:{port}", "--workers", "1")
        stack.start("scheduler", "scheduler")
        stack.start("sender", "sender", "--processes", str(senders), "--threads", "4")
        stack.start("recorder", "recorder")
        stack.start("webhooks", "webhooks", "--processes", "1", "--threads", "4")
        smtp = SmtpPorts(free_port(), free_port())
        stack.start("smtp", "smtp", "--bind", f"127.0.0.1:{smtp.starttls}",
                    "--tls-bind", f"127.0.0.1:{smtp.tls}")
        _print_welcome(port, key, local.model_copy(update=values), root, smtp)
        if admin_password:
            print(f"Console: http://127.0.0.1:{port}/ui  sign in as {LOCAL_ADMIN} with password "
                  f"{admin_password}\n  (shown once; reset it with "
                  f"`mailpipe admins create {LOCAL_ADMIN}`)", flush=True)
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
        while not stop["now"]:
            time.sleep(0.5)
            for name in stack.restart_dead():
                print(f"mailpipe: {name} exited; restarted it (see {root}/logs/{name}.log)")
        print("mailpipe: stopping", flush=True)
        return 0
    except SQLAlchemyError as exc:
        print(f"mailpipe: database error: {exc}", file=sys.stderr)
        return 1
    finally:
        if stack:
            stack.stop_all()
        if "metrics_dir" not in local.model_fields_set:
            # Each process removes its own on a clean exit; this also takes a killed one's.
            shutil.rmtree(values["metrics_dir"], ignore_errors=True)
        for server in servers:
            server.stop()


def transport_summary(settings: Settings) -> str:
    """What really happens to a message under these settings, in one line."""
    if settings.transport == "ses":
        region = settings.aws_region or "the AWS SDK's default region"
        return f"ses  (messages are sent through Amazon SES in {region})"
    if settings.transport == "smtp":
        url = urlsplit(settings.smtp_url or "")
        server = f"{url.scheme}://{url.hostname}:{url.port}" if url.hostname else "(not set)"
        return f"smtp  (messages are sent through the SMTP server {server})"
    return f"file  (messages are written to {settings.file_dir}, not sent)"


def tracking_summary(settings: Settings) -> str:
    """Whether opens, clicks and one-click unsubscribe work, and through which address."""
    if not settings.secret_key:
        return "off  (no MAILPIPE_SECRET_KEY: no open pixel, click links or List-Unsubscribe)"
    return f"on  (opens, clicks and one-click unsubscribe; links to {settings.public_url})"


def metrics_summary(settings: Settings, api_url: str) -> str:
    """Where each process kind serves /metrics."""
    served = [f"api {api_url}/metrics"]
    for kind in METRICS_KINDS:
        port = getattr(settings, f"metrics_port_{kind}")
        if port:
            served.append(f"{kind} http://{settings.metrics_host}:{port}/metrics")
    return ", ".join(served)


@dataclass(frozen=True)
class SmtpPorts:
    """Where up's smtp process listens on 127.0.0.1."""

    starttls: int
    tls: int


def smtp_summary(settings: Settings, ports: SmtpPorts) -> str:
    """Where apps submit over SMTP, with what, and the certificate's fingerprint to pin."""
    cert = settings.smtp_cert_file
    served = (f"SHA-256 {file_fingerprint(cert)}  ({cert})" if cert and cert.is_file()
              else f"{cert} (not readable: see the smtp log)")
    return (f"127.0.0.1:{ports.starttls} (STARTTLS), 127.0.0.1:{ports.tls} (implicit TLS);\n"
            f"             user name apikey, password the API key below\n"
            f"             certificate {served}")


def _print_welcome(port: int, key: str, settings: Settings, root: Path,
                   smtp: SmtpPorts) -> None:
    url = f"http://127.0.0.1:{port}"
    print(f"""
mailpipe is running at {url}  (Ctrl-C stops everything)
  console:   {url}/ui    API reference: {url}/docs
  transport: {transport_summary(settings)}
  tracking:  {tracking_summary(settings)}
  metrics:   {metrics_summary(settings, url)}
  smtp:      {smtp_summary(settings, smtp)}
  logs:      {root}/logs/
  API key:   {key}

Try it:
  curl -s -X POST {url}/v1/messages -H 'x-api-key: {key}' \\
       -H 'content-type: application/json' \\
       -d '{{"messages": [{{"topicId": "hello", "emails": ["you@example.com"],
            "subject": "Hello", "bulk": true,
            "content": "<p>Hello from <a href=\\"https://example.com/\\">mailpipe</a></p>"}}]}}'
  curl -s {url}/v1/topics/hello -H 'x-api-key: {key}'
""", flush=True)
