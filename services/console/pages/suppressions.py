"""The acting key's suppression list: search, add (pasted or a CSV), remove, export.

Viewers read it; admins change it. Addresses are read by the API's rules
(``parse_mailbox``, as ``POST /v1/suppressions`` reads ``emails``: ``a@b``,
``<a@b>`` or ``Name <a@b>``; at most as many at once as it takes), each bad
line named; a CSV's charset is read by ``shared.intake.csvtext`` like every
other upload. Additions and removals are ``shared.db.suppressions``' own,
recorded in the audit log as the signed-in person's. The export is a CSV in
UTF-8 with a BOM or CP949, as the console's other exports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import urlencode

import falcon

from services.api.media import csv_charset, upload_stream
from services.api.schemas.messages import SuppressRequest, parse
from services.console.web import ROOT, Page, form, key_of, redirect
from shared.db.suppressions import add_suppressions, remove_suppression, search_suppressions
from shared.errors import InvalidRequest
from shared.i18n import Text, ntext
from shared.intake.addresses import AddressError, parse_mailbox
from shared.intake.csvtext import csv_bytes, export_charset, export_content_type, read_csv

#: Entries a page shows.
PAGE_SIZE = 100
#: At most what ``POST /v1/suppressions`` takes at once (``SuppressRequest.emails``).
MAX_ADD = 10_000
#: Lines with a problem named at most (the rest are counted).
MAX_PROBLEMS = 20
#: What a CSV's address column may be called (else its first column).
ADDRESS_COLUMNS = {"email", "e-mail", "email address", "address", "addresses", "mail",
                   "이메일", "메일", "이메일 주소", "주소"}
EXPORT_COLUMNS = ("email", "reason", "message_id", "created_at")
_LISTS = re.compile(r"[,;]")


def _read_addresses(items: Iterable[tuple[int, str]]) -> list[str]:
    """The addresses of numbered lines, as the API reads them; InvalidRequest naming each
    bad line (``details``) when any is. A line that is not one mailbox is read as
    several, separated by commas, semicolons or spaces."""
    found: list[str] = []
    problems: list[Text] = []
    for line, value in items:
        for part in _mailboxes(value):
            try:
                found.append(parse_mailbox(part).address)
            except AddressError as exc:
                problems.append(Text("line %(line)s: %(problem)s", line=line,
                                     problem=exc.text))
    if problems:
        details = [{"code": "invalid_email", "field": "addresses", "message": p}
                   for p in problems[:MAX_PROBLEMS]]
        raise InvalidRequest("invalid_email", ntext(
            "%(num)s address could not be read; nothing was added.",
            "%(num)s addresses could not be read; nothing was added.", len(problems)),
            field="addresses", details=details)
    if not found:
        raise InvalidRequest("no_addresses", Text("There is no address to add."),
                             field="addresses")
    if len(found) > MAX_ADD:
        raise InvalidRequest("too_many_addresses", Text(
            "%(count)s addresses: at most %(max)s can be added at once.", count=len(found),
            max=MAX_ADD), field="addresses")
    return parse(SuppressRequest, {"emails": found}).emails  # the API's own check, whole


def _mailboxes(line: str) -> list[str]:
    """The mailboxes a line holds: itself when it is one, else its parts between commas
    or semicolons, a part that is no mailbox split again at spaces."""
    line = line.strip()
    if not line or _is_mailbox(line):
        return [line] if line else []
    parts = []
    for chunk in filter(None, (c.strip() for c in _LISTS.split(line))):
        parts += [chunk] if _is_mailbox(chunk) else chunk.split()
    return parts


def _is_mailbox(value: str) -> bool:
    try:
        parse_mailbox(value)
    except AddressError:
        return False
    return True


def _csv_items(records: Sequence[Sequence[str]]) -> Iterator[tuple[int, str]]:
    """(line, cell) of the address column: the first row is a header unless it holds an
    address; the column is the one named like one (``ADDRESS_COLUMNS``), else the first."""
    if not records:
        return
    first = [cell.strip() for cell in records[0]]
    column, start = 0, 1
    for index, cell in enumerate(first):
        if _is_mailbox(cell):
            column, start = index, 0  # no header: the first row is data
            break
    else:
        named = [i for i, cell in enumerate(first) if cell.lower() in ADDRESS_COLUMNS]
        column = named[0] if named else 0
    for number, record in enumerate(records[start:], start=start + 1):
        if len(record) > column:
            yield number, record[column]


def _added_notice(req: falcon.Request) -> Text | None:
    added = req.get_param_as_int("added", min_value=0)
    already = req.get_param_as_int("already", min_value=0) or 0
    removed = req.get_param("removed")
    if removed:
        return Text("%(address)s is no longer suppressed: messages to it are sent again.",
                    address=removed)
    if added is None:
        return None
    text = ntext("%(num)s address added.", "%(num)s addresses added.", added)
    if already:
        return Text("%(added)s %(already)s", added=text, already=ntext(
            "%(num)s was already on the list (its first reason is kept).",
            "%(num)s were already on the list (their first reasons are kept).", already))
    return text


def _back(query: str, **params) -> str:
    values = {"q": query} if query else {}
    values.update({name: value for name, value in params.items() if value is not None})
    return f"{ROOT}/suppressions" + (f"?{urlencode(values)}" if values else "")


class SuppressionsPage(Page):
    """``/ui/suppressions?q=…&after=…``: the list, searched, a page at a time; ``POST``
    adds the pasted addresses."""

    roles = {"GET": "viewer", "POST": "admin"}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._show(req, resp)

    def _show(self, req: falcon.Request, resp: falcon.Response, pasted: str = "",
              error: InvalidRequest | None = None) -> None:
        key = key_of(req)
        query = (req.get_param("q") or "").strip()
        after = req.get_param("after") or None
        with self.console.engine.connect() as conn:
            found = search_suppressions(conn, key.id, query, after=after, limit=PAGE_SIZE)
        self.console.render(
            req, resp, "suppressions.html", q=query, after=after, found=found,
            next_after=found.entries[-1].address if found.more else None,
            pasted=pasted, error=error, notice=_added_notice(req), max_add=MAX_ADD,
            status=falcon.HTTP_400 if error else falcon.HTTP_200)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = key_of(req)
        pasted = form(req).get("addresses", "")
        try:
            addresses = _read_addresses(enumerate(pasted.splitlines(), start=1))
        except InvalidRequest as exc:
            self._show(req, resp, pasted, exc)
            return
        with self.console.engine.begin() as conn:
            added = add_suppressions(conn, key.id, addresses, "manual",
                                     actor=self.console.actor(req))
        already = len({a.lower() for a in addresses}) - len(added)
        raise redirect(_back(form(req).get("q", ""), added=len(added), already=already))


class ImportEndpoint(Page):
    """``POST /ui/suppressions/import?charset=auto|utf-8|cp949|utf-16`` (the CSV file as the
    body, from the page's script): its addresses added; JSON ``{added, already}``."""

    roles = {"POST": "admin"}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = key_of(req)
        stream = upload_stream(req, self.console.settings.max_upload_bytes)
        charset = csv_charset(dict(req.params), req.content_type)  # as the API reads it
        records = read_csv(stream, charset, limit=MAX_ADD + 2)
        addresses = _read_addresses(_csv_items(records))
        with self.console.engine.begin() as conn:
            added = add_suppressions(conn, key.id, addresses, "manual",
                                     actor=self.console.actor(req))
        resp.media = {"added": len(added),
                      "already": len({a.lower() for a in addresses}) - len(added)}


class RemoveEndpoint(Page):
    """``POST /ui/suppressions/remove`` (``address``): off the list, back to the list."""

    roles = {"POST": "admin"}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = key_of(req)
        values = form(req)
        address = values.get("address", "")
        with self.console.engine.begin() as conn:
            removed = remove_suppression(conn, key.id, address, actor=self.console.actor(req))
        # Not on the list (removed by someone else meanwhile): the list shows it is gone.
        raise redirect(_back(values.get("q", ""), removed=address.lower() if removed else None))


def _export_rows(engine, key_id: int, query: str) -> Iterator[Sequence]:
    """The header, then every entry the search finds, a page (one query) at a time."""
    yield EXPORT_COLUMNS
    after = None
    while True:
        with engine.connect() as conn:
            found = search_suppressions(conn, key_id, query, after=after, limit=1000)
        for entry in found.entries:
            yield [entry.address, entry.reason, entry.message_id or "",
                   entry.created_at.isoformat()]
        if not found.more:
            return
        after = found.entries[-1].address


class ExportEndpoint(Page):
    """``GET /ui/suppressions/export?q=…&charset=utf-8-sig|cp949``: what the search finds
    (everything when empty) as CSV, streamed page by page."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = key_of(req)
        charset = export_charset(req.get_param("charset"))
        resp.content_type = export_content_type(charset)
        resp.downloadable_as = "suppressions.csv"
        resp.stream = csv_bytes(_export_rows(self.console.engine, key.id,
                                             (req.get_param("q") or "").strip()), charset)
