"""Transports: one narrow interface, chosen by MAILPIPE_TRANSPORT."""

from __future__ import annotations

from shared.settings import Settings
from shared.transports.base import Envelope, Transport


def make_transport(settings: Settings) -> Transport:
    """The transport the settings name; its clients are built here, not at import."""
    if settings.transport == "ses":
        from shared.transports.ses import SesTransport

        return SesTransport.from_environment(region=settings.aws_region)
    if settings.transport == "file":
        from shared.transports.file import FileTransport

        return FileTransport(settings.file_dir)
    raise NotImplementedError(f"MAILPIPE_TRANSPORT={settings.transport} is not available yet")


__all__ = ["Envelope", "Transport", "make_transport"]
