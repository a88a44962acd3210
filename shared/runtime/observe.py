"""What each process reports about itself: JSON logs when asked, Sentry when configured.

``observe(kind, settings)`` is called by each process's entry point right
after ``configure_logging`` (and, for Sentry's integrations to hook in,
before the broker or the falcon app is built). It

- adds ``ContextFilter`` to the root handlers, so records carry the message
  id, topic, key id and event of the work in hand (``shared.runtime.context``);
- with MAILPIPE_LOG_FORMAT=json, formats every record as one JSON object
  per line: timestamp, level, process (kind), pid, logger, message, those
  fields, and the traceback when there is one;
- with SENTRY_DSN, starts the Sentry SDK with the falcon (api) or dramatiq
  (sender, recorder) integration, tagged with the process kind, and a
  ``before_send`` that adds the context as tags and scrubs secrets and
  message bodies (``shared.runtime.scrub``). Request bodies, query strings,
  cookies and local variables are never collected (``DATA_COLLECTION``).
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from shared.runtime.context import FIELDS, ContextFilter, current
from shared.runtime.scrub import Scrubber, secret_values
from shared.settings import Settings

#: dramatiq or falcon integration, by process kind.
_INTEGRATIONS = {"api": "falcon", "sender": "dramatiq", "recorder": "dramatiq"}


class LineFormatter(JsonFormatter):
    """One JSON object per record, secrets scrubbed out of its message."""

    def __init__(self, kind: str, scrubber: Scrubber) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="timestamp",  # ISO 8601, UTC, microseconds
        )
        self.kind, self.scrubber = kind, scrubber

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record["process"], log_record["pid"] = self.kind, record.process
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                log_record[name] = value
        for name in ("message", "exc_info", "stack_info"):
            if isinstance(log_record.get(name), str):
                log_record[name] = self.scrubber.text(log_record[name])


def observe(kind: str, settings: Settings) -> None:
    """Set up this process's logs and error reports (see the module docstring)."""
    scrubber = Scrubber(secret_values(settings))
    for handler in logging.getLogger().handlers:
        dress_handler(handler, kind, settings, scrubber)
    if settings.sentry_dsn is not None:
        start_sentry(kind, settings, scrubber)


def dress_handler(handler: logging.Handler, kind: str, settings: Settings,
                  scrubber: Scrubber) -> None:
    """Context fields and scrubbing on ``handler``; JSON lines if configured."""
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        handler.addFilter(ContextFilter())
        handler.addFilter(ScrubFilter(scrubber))
    if settings.log_format == "json":
        handler.setFormatter(LineFormatter(kind, scrubber))


class ScrubFilter(logging.Filter):
    """Secrets out of every record's message, text or JSON (after ContextFilter)."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrubber.text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


#: What the Sentry SDK (3.x) collects by itself: nothing about people, no
#: request bodies or query strings (tracking and unsubscribe tokens ride in
#: ``?t=``), no cookies, no local variables or SQL parameters (addresses,
#: subjects). Headers go through the SDK's denylist (``x-api-key``,
#: ``authorization`` are filtered) and then through the scrubber.
DATA_COLLECTION = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "http_bodies": [],
    "url_query_params": {"mode": "off"},
    "stack_frame_variables": False,
    "database_query_data": False,
    "queues": False,
}


def start_sentry(kind: str, settings: Settings, scrubber: Scrubber) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    # SDK 3 no longer turns logged errors into events by default; an operator
    # expects `log.exception("message %d ...")` in a sender to reach Sentry.
    integrations: list[Any] = [LoggingIntegration(
        level=None, event_level=logging.ERROR, breadcrumb_level=logging.INFO)]
    if _INTEGRATIONS.get(kind) == "falcon":
        from sentry_sdk.integrations.falcon import FalconIntegration

        integrations.append(FalconIntegration())
    elif _INTEGRATIONS.get(kind) == "dramatiq":
        from sentry_sdk.integrations.dramatiq import DramatiqIntegration

        integrations.append(DramatiqIntegration())

    def before_send(event: dict, hint: dict) -> dict:
        tags = event.setdefault("tags", {})
        tags.setdefault("process", kind)
        for name, value in current().items():
            tags.setdefault(name, ",".join(map(str, value)) if isinstance(value, list) else value)
        _tag_from_log_entry(event, tags)
        return scrubber.event(event, hint)

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment,
        integrations=integrations,
        data_collection=DATA_COLLECTION,
        before_send=before_send,
        before_breadcrumb=lambda crumb, hint: scrubber.value(crumb),
    )
    sentry_sdk.get_global_scope().set_tag("process", kind)


def _tag_from_log_entry(event: dict[str, Any], tags: dict) -> None:
    """An error logged as ``"message %d ..."`` names its message exactly."""
    entry = event.get("logentry") or {}
    params = entry.get("params")
    if str(entry.get("message", "")).startswith("message %d") and params:
        tags["message_id"] = params[0]
