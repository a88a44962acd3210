"""A real SMTP server for tests (aiosmtpd): plain, STARTTLS, implicit TLS, AUTH.

It records what arrived (envelope, bytes, TLS, login) and can be told to
answer with an error, refuse some recipients, or drop the connection after
the message was sent.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from shared.runtime.certificate import kept_self_signed
from shared.runtime.localservers import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls: bool
    login: str | None
    peer: tuple

    @property
    def message(self) -> EmailMessage:
        # Line ends as a mail reader sees them (SMTP carries CRLF).
        return BytesParser(policy=policy.default).parsebytes(self.data.replace(b"\r\n", b"\n"))


@dataclass
class Behaviour:
    """How the server answers; tests change it between sends."""

    data_reply: str = "250 2.0.0 Ok: queued"
    #: recipient -> reply for RCPT TO (others are accepted).
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    #: Close the connection after the message arrived, without a reply.
    drop_after_data: bool = False
    #: Close the connection after answering each message (an idle timeout).
    close_after_each: bool = False


class Recorder:
    """The aiosmtpd handler: remembers messages, answers as ``behaviour`` says."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.behaviour = Behaviour()
        self.helo_names: list[str] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if not session.ssl:  # once per connection, not again after STARTTLS
            self.helo_names.append(hostname)
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.behaviour.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(Received(
            mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos),
            data=envelope.original_content or envelope.content,
            tls=server.transport.get_extra_info("ssl_object") is not None,
            login=(session.auth_data.login.decode()
                   if isinstance(session.auth_data, LoginPassword) else None),
            peer=session.peer,
        ))
        if self.behaviour.drop_after_data:
            server.transport.close()
            return "250 never seen"
        if self.behaviour.close_after_each:
            server.loop.call_later(0.05, server.transport.close)
        return self.behaviour.data_reply


class Authenticator:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (cert file, key file)."""
    return kept_self_signed(folder)


class SmtpServer:
    """One running server; ``url`` is what mailpipe is configured with."""

    def __init__(self, mode: str, cert: tuple[Path, Path], users: dict[str, str] | None = None):
        self.mode = mode
        self.recorder = Recorder()
        self.port = free_port()
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(*cert)
        kwargs: dict = {}
        if mode == "starttls":
            kwargs.update(tls_context=server_tls, require_starttls=True)
        if mode == "tls":
            kwargs.update(ssl_context=server_tls)
        if users is not None:
            # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS socket is one anyway.
            kwargs.update(authenticator=Authenticator(users), auth_require_tls=mode == "starttls",
                          auth_exclude_mechanism=["CRAM-MD5"])
        self.controller = Controller(self.recorder, hostname="127.0.0.1",
                                              port=self.port, ready_timeout=10, **kwargs)

    @property
    def url(self) -> str:
        if self.mode == "tls":
            return f"smtps://127.0.0.1:{self.port}"
        tls = "required" if self.mode == "starttls" else "none"
        return f"smtp://127.0.0.1:{self.port}?tls={tls}"

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    @property
    def connections(self) -> int:
        """How many client connections carried the messages received."""
        return len({r.peer for r in self.recorder.received})

    @property
    def behaviour(self) -> Behaviour:
        return self.recorder.behaviour

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def client_context(cert_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(cert_file))
    return context
