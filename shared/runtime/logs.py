"""Logging set-up shared by every process: one line per event, process named."""

from __future__ import annotations

import logging
import os


def configure_logging(process: str, level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or os.environ.get("MAILPIPE_LOG_LEVEL", "INFO")).upper(),
        format=f"%(asctime)s %(levelname)s {process}[%(process)d] %(name)s: %(message)s",
        force=True,
    )
    # dramatiq logs every enqueue at DEBUG and is chatty at INFO on start.
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
