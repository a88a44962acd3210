"""``mailpipe smtp``: the submission listeners, STARTTLS (587) and implicit TLS (465).

One asyncio loop serves both listeners; each connection is a
``services.smtp.session.Session`` answered by one ``SubmissionHandler``.
Storing a message (PostgreSQL) runs in the loop's threads, so a slow
database holds up only its own connection.

SIGTERM (or SIGINT): the listeners stop accepting, transactions in flight
(an accepted MAIL whose DATA is not answered yet) get up to DRAIN_SECONDS
to finish, then the process exits 0; a connection that starts another
transaction meanwhile is told 421, idle ones are dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import ssl
import warnings
from functools import partial

import redis
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import Engine

from services.smtp.handler import FAILURE_PAUSE, SubmissionHandler
from services.smtp.session import Session
from shared.broker.queues import make_broker
from shared.db.engine import make_engine
from shared.errors import ConfigError
from shared.metrics.setup import serve as serve_metrics
from shared.rate.intake import IntakeLimiter
from shared.runtime.heartbeat import Heartbeat
from shared.runtime.logs import configure_logging
from shared.runtime.observe import observe
from shared.settings import Settings

log = logging.getLogger("mailpipe.smtp")

#: How long a shutdown waits for the transactions in flight.
DRAIN_SECONDS = 20.0
#: An idle connection is closed after this long (RFC 5321 4.5.3.2.7 suggests 5 minutes).
IDLE_TIMEOUT = 300


def main(args: argparse.Namespace, settings: Settings) -> int:
    """The CLI's entry (``add_parser``'s arguments)."""
    return run(settings, bind=args.bind, tls_bind=args.tls_bind)


def run(settings: Settings, *, bind: str | None, tls_bind: str | None) -> int:
    """Serve until SIGTERM or SIGINT; 0 after a clean shutdown.

    ``bind`` / ``tls_bind``: HOST:PORT of the STARTTLS and implicit-TLS
    listeners (None, '' or 'none': that listener is off; at least one).
    Raises ConfigError without a certificate and key (AUTH needs TLS).
    """
    configure_logging("smtp", settings.log_level)
    observe("smtp", settings)
    # aiosmtpd logs every connection at INFO and, at DEBUG, every line of DATA: message
    # bodies do not go to logs. Its warnings and errors still do; ours say the rest.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    context = tls_context(settings)
    listeners = [(address, implicit) for address, implicit in
                 ((bind, False), (tls_bind, True)) if _on(address)]
    if not listeners:
        raise ConfigError("mailpipe smtp: both listeners are off (--bind, --tls-bind)")
    client = redis.Redis.from_url(settings.redis_url)
    handler = make_handler(settings, make_engine(settings.database_url, pool_size=8),
                           make_broker(settings), client)
    beating = Heartbeat(client, "smtp").start()
    serve_metrics(settings.metrics_port_smtp, settings.metrics_host)
    try:
        asyncio.run(serve(handler, context, listeners))
    finally:
        beating.stop()  # the dashboard lists it until its last beat expires otherwise
    return 0


def make_handler(settings: Settings, engine: Engine, broker: RedisBroker, client: redis.Redis,
                 failure_pause: float = FAILURE_PAUSE) -> SubmissionHandler:
    """The process's handler over these parts, with the API's AUTH-failure and intake
    budgets (MAILPIPE_AUTH_FAILURE_RATE, MAILPIPE_INTAKE_RATE)."""
    return SubmissionHandler(
        settings=settings, engine=engine, broker=broker,
        failure_budget=IntakeLimiter(client, settings.auth_failure_rate,
                                     settings.auth_failure_burst),
        intake_budget=IntakeLimiter(client, settings.intake_rate, settings.intake_burst),
        failure_pause=failure_pause)


async def serve(handler: SubmissionHandler, context: ssl.SSLContext,
                listeners: list[tuple[str, bool]], stop: asyncio.Event | None = None) -> None:
    """Listen on each (HOST:PORT, implicit TLS) until ``stop`` (else SIGTERM/SIGINT) is set,
    then drain (see the module's docstring)."""
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    servers = []
    for address, implicit in listeners:
        host, port = split_bind(address)
        factory = partial(session_for, handler, context, implicit=implicit)
        server = await loop.create_server(factory, host, port,
                                          ssl=context if implicit else None)
        servers.append(server)
        bound = server.sockets[0].getsockname()
        log.info("listening on %s:%s (%s)", bound[0], bound[1],
                 "implicit TLS" if implicit else "STARTTLS")
    await stop.wait()
    handler.stopping = True
    for server in servers:
        server.close()
    log.info("stopping: %d transaction(s) in flight", len(handler.in_flight))
    left = await handler.drain(DRAIN_SECONDS)
    if left:
        log.warning("stopped with %d transaction(s) unfinished (their clients will retry)",
                    left)


def session_for(handler: SubmissionHandler, context: ssl.SSLContext, *,
                implicit: bool) -> Session:
    """One connection's session. On the STARTTLS listener AUTH waits for STARTTLS (538
    before); on the implicit-TLS one the whole connection is TLS already."""
    settings = handler.settings
    with warnings.catch_warnings():
        # An implicit-TLS session requires AUTH without "requiring TLS" in aiosmtpd's
        # sense (a STARTTLS), which it warns about: its connection is TLS from the start.
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
        return _session(handler, settings, context, implicit)


def _session(handler: SubmissionHandler, settings: Settings, context: ssl.SSLContext,
             implicit: bool) -> Session:
    return Session(
        handler,
        hostname=settings.smtp_hostname or socket.getfqdn(),
        ident="mailpipe",
        data_size_limit=settings.smtp_max_size,
        enable_SMTPUTF8=True,
        decode_data=False,
        tls_context=None if implicit else context,
        require_starttls=False,
        auth_required=True,
        auth_require_tls=not implicit,
        auth_exclude_mechanism=[],
        timeout=IDLE_TIMEOUT,
    )


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The server's TLS context from MAILPIPE_SMTP_CERT_FILE and _KEY_FILE (ConfigError
    without them: AUTH needs TLS, and without AUTH nothing is accepted)."""
    if not settings.smtp_cert_file or not settings.smtp_key_file:
        raise ConfigError(
            "mailpipe smtp needs MAILPIPE_SMTP_CERT_FILE and MAILPIPE_SMTP_KEY_FILE (PEM): "
            "AUTH is only offered over TLS")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.smtp_cert_file, settings.smtp_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"MAILPIPE_SMTP_CERT_FILE / MAILPIPE_SMTP_KEY_FILE: cannot load "
                          f"them: {exc}") from None
    return context


def split_bind(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:587`` for IPv6) as (host, port); ConfigError otherwise."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"mailpipe smtp: {address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _on(address: str | None) -> bool:
    return bool(address) and address.strip().lower() != "none"
