"""The audit log (admins only): every entry of ``shared.db.audit``, newest first, filtered
by action, actor and time, paged by id; each entry's before and after as the fields that
changed; the same entries as CSV.

Read only: no route of mailpipe changes or deletes an entry (and the table's trigger
refuses it, migration 0017).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import falcon

from services.console.i18n import label
from services.console.labels import LABELS
from services.console.web import ROOT, Page
from shared.db.audit import AuditEntry, entries
from shared.intake.csvtext import csv_bytes, export_charset, export_content_type

ADMIN = {"GET": "admin"}
#: Entries a page shows.
PAGE_SIZE = 100
#: Entries one query of the export reads.
EXPORT_BATCH = 1000
#: Items of a list shown before "+n" (a requeue's ids, a paste of addresses).
SHOWN_ITEMS = 10
#: Characters of one value shown before "…" (the export has them all).
SHOWN_CHARS = 200
EXPORT_COLUMNS = ("id", "at", "actor_kind", "actor", "address", "action", "target",
                  "before", "after")
#: Fields whose values the console has names for (``services.console.labels``' kinds).
NAMED_FIELDS = {"role": "role", "status": "account_status", "reason": "suppression_reason",
                "state": "state"}


@dataclass(frozen=True)
class Change:
    """One field of an entry as it was and became; None: absent on that side (a field
    of ``None`` is the whole value, for an entry whose before or after is no object)."""

    field: str | None
    before: str | None
    after: str | None


def _shown(value: Any) -> str:
    """A JSON value as a person reads it: text as is, a list by its first items, null
    as a dash."""
    if value is None:
        return "—"
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        items = [_shown(item) for item in value[:SHOWN_ITEMS]]
        more = len(value) - SHOWN_ITEMS
        text = ", ".join(items) + (f" (+{more})" if more > 0 else "") if items else "[]"
    else:
        text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def changes(before: Any, after: Any, lang: str = "en") -> list[Change]:
    """What an entry changed: for objects, each field that differs (in the order the
    entry wrote them; a role, status, reason or state named in ``lang``); for anything
    else, the whole value."""
    missing = object()
    if isinstance(before, dict | None) and isinstance(after, dict | None):
        old, new = before or {}, after or {}
        fields = list(old) + [name for name in new if name not in old]
        return [Change(name, _named(name, old[name], lang) if name in old else None,
                       _named(name, new[name], lang) if name in new else None)
                for name in fields if old.get(name, missing) != new.get(name, missing)]
    if before == after:
        return []
    return [Change(None, None if before is None else _shown(before),
                   None if after is None else _shown(after))]


def _named(field: str, value: Any, lang: str) -> str:
    kind = NAMED_FIELDS.get(field)
    return label(lang, kind, value) if kind and isinstance(value, str) else _shown(value)


@dataclass(frozen=True)
class AuditQuery:
    """The filter as read from a request, and its values to write back into links."""

    action: str
    actor: str
    since: datetime | None
    until: datetime | None

    @property
    def values(self) -> dict[str, str]:
        return {"action": self.action, "actor": self.actor,
                "since": self.since.isoformat() if self.since else "",
                "until": self.until.isoformat() if self.until else ""}

    def url(self, path: str = "", **extra) -> str:
        params = {k: v for k, v in {**self.values, **extra}.items() if v not in ("", None)}
        return f"{ROOT}/audit{path}" + (f"?{urlencode(params)}" if params else "")

    def read(self, conn, before_id: int | None, limit: int) -> list[AuditEntry]:
        return entries(conn, action=self.action or None, actor=self.actor or None,
                       since=self.since, until=self.until, before_id=before_id, limit=limit)


def read_query(req: falcon.Request) -> AuditQuery:
    return AuditQuery((req.get_param("action") or "").strip(),
                      (req.get_param("actor") or "").strip(),
                      _moment(req.get_param("since"), "since"),
                      _moment(req.get_param("until"), "until"))


def _moment(text: str | None, name: str) -> datetime | None:
    """An instant in ISO 8601 (the page's script sends the reader's local time as UTC)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise falcon.HTTPInvalidParam("an ISO 8601 date and time", name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class AuditPage(Page):
    """``GET /ui/audit?action=…&actor=…&since=…&until=…&before=…``."""

    roles = ADMIN

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = read_query(req)
        before = req.get_param_as_int("before", min_value=1, max_value=2**63 - 1)
        with self.console.engine.connect() as conn:
            found = query.read(conn, before, PAGE_SIZE + 1)
        shown = found[:PAGE_SIZE]
        known = [*LABELS["audit_group"], *LABELS["audit"]]
        self.console.render(
            req, resp, "audit.html", query=query, before=before,
            entries=[(e, changes(e.before, e.after, req.context.lang)) for e in shown],
            next_before=shown[-1].id if len(found) > PAGE_SIZE else None,
            groups=list(LABELS["audit_group"]), actions=list(LABELS["audit"]),
            other_action=query.action if query.action and query.action not in known else None)


def _export_rows(engine, query: AuditQuery) -> Iterator[Sequence]:
    """The header, then every entry the filter finds, newest first, a batch at a time."""
    yield EXPORT_COLUMNS
    before = None
    while True:
        with engine.connect() as conn:
            batch = query.read(conn, before, EXPORT_BATCH)
        for e in batch:
            yield [e.id, e.at.astimezone(UTC).isoformat(), e.actor_kind, e.actor,
                   e.address or "", e.action, e.target or "", _json(e.before), _json(e.after)]
        if len(batch) < EXPORT_BATCH:
            return
        before = batch[-1].id


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False)


class ExportEndpoint(Page):
    """``GET /ui/audit/export?…&charset=utf-8-sig|cp949``: what the filter finds, as CSV."""

    roles = ADMIN

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = read_query(req)
        charset = export_charset(req.get_param("charset"))
        resp.content_type = export_content_type(charset)
        resp.downloadable_as = "audit-log.csv"
        resp.stream = csv_bytes(_export_rows(self.console.engine, query), charset)
