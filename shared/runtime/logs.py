"""Logging set-up shared by every process: one line per event, process named."""

from __future__ import annotations

import logging


def configure_logging(process: str, level: str = "INFO") -> None:
    """Log lines of ``process`` at ``level`` (``Settings.log_level``) and above."""
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s {process}[%(process)d] %(name)s: %(message)s",
        force=True,
    )
    # dramatiq logs every enqueue at DEBUG and is chatty at INFO on start.
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
