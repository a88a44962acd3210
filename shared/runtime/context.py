"""What a thread is working on (message ids, topic, key id, event), for logs and error reports.

Set around a unit of work (a queue message: ``PayloadContext``; an API
request: ``services.api.context``) with ``log_context``; read by the logging
filter (every record gets the fields) and by the Sentry set-up (tags). One
``ContextVar`` per field, so a thread of a gthread or dramatiq worker sees
only its own.

Log calls that name their message the way the sender's do (``"message %d
..."``) carry that id exactly, even inside a batch of many.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from dramatiq.middleware import Middleware

#: The fields, as they appear in JSON logs and Sentry tags.
FIELDS = ("message_id", "message_ids", "topic", "key_id", "event")
#: A batch names at most this many ids (logs stay short).
MAX_IDS = 20

_vars: dict[str, ContextVar[Any]] = {name: ContextVar(name, default=None) for name in FIELDS}


def current() -> dict[str, Any]:
    """The fields set in this thread now (unset ones left out)."""
    return {name: var.get() for name, var in _vars.items() if var.get() is not None}


def set_fields(**fields: Any) -> None:
    """Replace the context with ``fields`` (the rest unset): the start of a unit of work."""
    for name, var in _vars.items():
        var.set(fields.get(name))


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """``fields`` added to the context for the block, restored after it."""
    tokens = {name: _vars[name].set(value) for name, value in fields.items()}
    try:
        yield
    finally:
        for name, token in tokens.items():
            _vars[name].reset(token)


class ContextFilter(logging.Filter):
    """Puts the context's fields on each record (a field given with ``extra=`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        if (not hasattr(record, "message_id") or getattr(record, "message_ids", None)) and \
                isinstance(record.msg, str) and record.msg.startswith("message %d") and \
                isinstance(record.args, tuple) and record.args:
            record.message_id = record.args[0]
        return True


class PayloadContext(Middleware):
    """dramatiq middleware: each queue message's ids (and event types) become the context.

    Set before the actor runs and left until the next message (dramatiq's
    own and Sentry's middleware report after ours runs ``after``), so an
    error report about this message still carries its fields.
    """

    def before_process_message(self, broker, message) -> None:
        payload = message.args[0] if message.args else None
        set_fields(**fields_of(payload))


def fields_of(payload: Any) -> dict[str, Any]:
    """Context fields named by a queue payload (``shared.broker.payloads`` shapes)."""
    if not isinstance(payload, dict):
        return {}
    ids: list = []
    events: list = []
    if isinstance(payload.get("ids"), list):
        ids = payload["ids"]
    for item in payload.get("outcomes") or payload.get("events") or ():
        if isinstance(item, dict):
            if item.get("message_id") is not None:
                ids.append(item["message_id"])
            if item.get("type"):
                events.append(str(item["type"]))
    fields: dict[str, Any] = {}
    if len(ids) == 1:
        fields["message_id"] = ids[0]
    elif ids:
        fields["message_ids"] = ids[:MAX_IDS]
    if events:
        fields["event"] = ",".join(sorted(set(events)))
    return fields
