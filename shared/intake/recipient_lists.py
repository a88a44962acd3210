"""Saved recipient lists: checked like a campaign's grid, stored once, reused by campaigns.

The rules of ``POST /v1/lists`` and of saving the console's recipient grid
(the same list, edited): one check, whichever door the rows came in by.

A list is all or nothing, like a campaign: every row is checked (a valid
address; values that are text, numbers or empty) and a single bad row
refuses the whole list, listing the bad rows by number. Whether a list fits
a template (a value for every variable, no line break in a subject value)
is checked when a campaign names it, by the campaign's own rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine

from shared.db.audit import Actor, record
from shared.db.keys import ApiKey
from shared.db.recipient_lists import (
    RecipientList,
    get_list,
    insert_list,
    list_rows,
    rewrite_list,
)
from shared.errors import InvalidRequest, NotFound
from shared.i18n import Text
from shared.intake.addresses import NamedAddress
from shared.intake.campaigns import Row, all_or_nothing, checked_recipient, require_columns

MAX_COLUMNS = 50
MAX_VALUE_CHARS = 10_000


def _value(row: Row, name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRequest("invalid_value", Text(
            "%(where)s: '%(name)s' must be text or a number", where=row.where, name=name),
            field=name)
    text = str(value)
    if len(text) > MAX_VALUE_CHARS or "\x00" in text:
        raise InvalidRequest("invalid_value", Text(
            "%(where)s: '%(name)s' is longer than %(max)s characters or holds a NUL",
            where=row.where, name=name, max=MAX_VALUE_CHARS), field=name)
    return text


def _checked(row: Row, columns: list[str] | None) -> tuple[NamedAddress, dict[str, str]]:
    """(recipient, values) of a good row; ``columns`` None: every field the row has (CSV)."""
    if row.cell_error:
        raise InvalidRequest("wrong_cell_count", Text("%(where)s: %(problem)s",
                                                      where=row.where, problem=row.cell_error))
    recipient = checked_recipient(row)
    if columns is None:
        columns = [name for name in row.fields if name != "email"][:MAX_COLUMNS + 1]
    if len(columns) > MAX_COLUMNS:
        raise InvalidRequest("too_many_columns", Text(
            "at most %(max)s value columns besides email", max=MAX_COLUMNS),
            field="recipients")
    return recipient, {name: _value(row, name, row.fields.get(name)) for name in columns}


def columns_of(rows: list[Row]) -> list[str]:
    """Every field name but ``email``, in order of first appearance."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(k for k in row.fields if k != "email"))
    return list(names)


def create_list(engine: Engine, key: ApiKey, name: str, rows: Iterable[Row],
                columns: list[str] | None = None, *,
                template_id: int | None = None, actor: Actor | None = None) -> RecipientList:
    """Store the list with its de-duplicated rows in one transaction, or nothing
    (with its audit entry when an ``actor`` is named).

    ``columns``: the value names every row gets (missing ones empty), for
    JSON rows that may each name other fields; None for a CSV, whose header
    gives every row the same names. ``template_id``: the template whose
    variables the console's grid shows (the grid saves it; the API none).
    """
    checked = all_or_nothing(rows, lambda row: _checked(row, columns),
                             Text("the list was not created"))
    with engine.begin() as conn:
        stored = _with_recipients(insert_list(conn, key.id, name, (r for _, r in checked),
                                              template_id=template_id))
        if actor is not None:
            record(conn, actor, "list.create", f"list {stored.id}", after=_audited(stored))
        return stored


def replace_list(engine: Engine, key: ApiKey, list_id: int, name: str, rows: Iterable[Row],
                 columns: list[str], *, template_id: int | None = None,
                 actor: Actor | None = None) -> RecipientList:
    """Replace a list's name, template and rows (an edit in the console's grid), checked
    as ``create_list`` checks them, in one transaction, or nothing; NotFound if the key
    has no such list. Campaigns made from the list before keep the rows they copied."""
    checked = all_or_nothing(rows, lambda row: _checked(row, columns),
                             Text("the list was not saved"))
    with engine.begin() as conn:
        before = get_list(conn, key.id, list_id) if actor is not None else None
        stored = rewrite_list(conn, key.id, list_id, name, (r for _, r in checked),
                              template_id=template_id)
        if stored is None:
            raise NotFound("list_not_found", Text("no list %(id)s for this API key",
                                                  id=list_id))
        stored = _with_recipients(stored)
        if actor is not None:
            record(conn, actor, "list.update", f"list {list_id}",
                   before=_audited(before) if before else None, after=_audited(stored))
        return stored


def _audited(stored: RecipientList) -> dict:
    """What the audit log keeps of a list: its name, template and size, not its rows."""
    return {"name": stored.name, "template": stored.template_id,
            "recipients": stored.total}


def _with_recipients(stored: RecipientList) -> RecipientList:
    """``stored``, or InvalidRequest (rolling the caller's transaction back) if it is empty."""
    if not stored.total:
        raise InvalidRequest("no_recipients", Text("the list has no recipients"),
                             field="recipients")
    return stored


def campaign_rows(engine: Engine, key: ApiKey, list_id: int, *,
                  variables: Sequence[str] = ()) -> Iterator[Row]:
    """A saved list's rows as a campaign's recipient rows (numbered by their place).

    A template variable (of ``variables``) the list has no column for is one
    InvalidRequest before any row is read, as a CSV header without it is.
    """
    with engine.connect() as conn:
        stored = get_list(conn, key.id, list_id)
        if stored is None:
            raise NotFound("list_not_found", Text("listId: no list %(id)s for this API key",
                                                  id=list_id), field="listId")
        require_columns(stored.columns, variables, Text("the list"))
        for seq, recipient, values in list_rows(conn, list_id):
            # Checked when the list was saved: the name is not read back from text.
            yield Row("row", seq, {**values, "email": str(recipient)}, recipient=recipient)
