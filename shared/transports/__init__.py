"""Transports: one narrow interface, chosen by MAILPIPE_TRANSPORT."""

from __future__ import annotations

from dataclasses import replace

from shared.errors import ConfigError
from shared.settings import Settings
from shared.transports.base import Envelope, Transport


def make_transport(settings: Settings, *, threads: int = 1) -> Transport:
    """The configured transport, and tenant SMTP relays for messages that name one.

    ``threads``: how many threads will send through it at once (SES opens
    that many connections before the first send).
    """
    from shared.secrets import SecretBox
    from shared.transports.relays import RelayingTransport, ssl_context

    return RelayingTransport(
        _configured_transport(settings, threads),
        SecretBox(settings.secret_key) if settings.secret_key else None,
        context=ssl_context(settings.smtp_ca_file), timeout=settings.smtp_timeout,
        allow_private=settings.tenant_smtp_private, helo_name=settings.smtp_helo_name,
    )


def _configured_transport(settings: Settings, threads: int) -> Transport:
    """The transport the settings name; its clients are built here, not at import."""
    if settings.transport == "smtp":
        return _smtp_transport(settings)
    if settings.transport == "ses":
        from shared.ses.setup import configuration_set_to_name
        from shared.transports.ses import SesTransport, ses_client

        client = ses_client(settings)
        transport = SesTransport(
            client, bulk=settings.ses_bulk, direct=settings.ses_client == "direct",
            configuration_set=configuration_set_to_name(client, settings),
            find_configuration_set=(lambda: configuration_set_to_name(client, settings,
                                                                       quiet=True))
            if settings.ses_configuration_set else None)
        transport.warm_up(connections=threads)
        return transport
    if settings.transport == "file":
        from shared.transports.file import FileTransport

        return FileTransport(settings.file_dir)
    raise NotImplementedError(f"MAILPIPE_TRANSPORT={settings.transport} is not available yet")


def _smtp_transport(settings: Settings) -> Transport:
    from shared.transports.relays import ssl_context
    from shared.transports.smtp import SmtpTransport, SmtpUrlError, parse_smtp_url

    if not settings.smtp_url:
        raise ConfigError("MAILPIPE_SMTP_URL: required when MAILPIPE_TRANSPORT=smtp")
    try:
        server = parse_smtp_url(settings.smtp_url)
    except SmtpUrlError as exc:
        raise ConfigError(f"MAILPIPE_SMTP_URL: {exc}") from None
    if settings.smtp_username:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        server = replace(server, username=settings.smtp_username, password=password)
    return SmtpTransport(server, ssl_context=ssl_context(settings.smtp_ca_file),
                         timeout=settings.smtp_timeout, helo_name=settings.smtp_helo_name)


__all__ = ["Envelope", "Transport", "make_transport"]
