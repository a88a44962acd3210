"""Recipient grids: a spreadsheet of email plus the template's variables, checked and saved.

A grid is a recipient list (``/v1/lists``) opened for editing: saving one
stores it as a list (``shared.intake.recipient_lists``, the rules of
``POST /v1/lists``), and every list, whichever door it came in by, opens
here. The check applies the campaign intake's own rules to every row
(``checked_recipient`` and ``recipient_values`` from ``shared.intake`` and
``shared.rendering``), so a cell flagged here is exactly a row that
``POST /v1/campaigns`` would refuse, with the same reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import falcon
from sqlalchemy import Connection

from services.api.media import csv_charset, read_json, upload_stream
from services.api.params import row_id
from services.console.i18n import message
from services.console.web import ROOT, Page, PageNotFound, key_of
from shared.db.audit import record
from shared.db.recipient_lists import delete_list, get_list, list_rows, recent_lists
from shared.db.templates import get_template, list_templates
from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.campaigns import Row, checked_recipient
from shared.intake.csvtext import csv_bytes, export_charset, export_content_type, read_csv
from shared.intake.recipient_lists import create_list, replace_list
from shared.rendering.mustache import recipient_values

#: Rows one grid may hold (larger lists go to the plan as a CSV upload). A larger
#: list made through the API opens read-only, its first MAX_ROWS rows shown.
MAX_ROWS = 20_000


@dataclass(frozen=True)
class Grid:
    """A saved list as the grid shows it: ``email`` then the list's columns, cells as text."""

    id: int
    name: str
    template_id: int | None
    columns: list[str]
    rows: list[list[str]]
    #: Recipients in the list; more than ``len(rows)`` when it is too large to edit here.
    total: int

    @property
    def editable(self) -> bool:
        return self.total <= MAX_ROWS


def grid_of(conn: Connection, key_id: int, list_id: int) -> Grid | None:
    """The key's list ``list_id`` as grid cells (each address with its display name, as
    typed: ``"Kim, Minsu" <m@example.com>``), at most MAX_ROWS rows; None if none."""
    stored = get_list(conn, key_id, list_id)
    if stored is None:
        return None
    rows = [[str(recipient), *(str(values.get(c, "")) for c in stored.columns)]
            for _, recipient, values in list_rows(conn, list_id, limit=MAX_ROWS)]
    return Grid(stored.id, stored.name, stored.template_id, ["email", *stored.columns], rows,
                stored.total)


def grid_rows(columns: list[str], rows: list[list[str]]) -> Iterator[Row]:
    """The grid's non-blank rows as recipient rows, numbered as the grid shows them."""
    for number, cells in enumerate(rows, start=1):
        fields = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(columns)}
        if any(str(v).strip() for v in fields.values()):
            yield Row("row", number, fields)


def check_rows(variables: list[str], subject_variables: set[str], columns: list[str],
               rows: list[list]) -> list[dict]:
    """``[{row, column, message}]`` for every cell the campaign intake would refuse, the
    message a ``Text`` (the endpoint answers it in the reader's language).

    ``row`` counts from 1 as the grid shows it; blank rows are skipped, as
    the CSV upload skips them.
    """
    problems = []
    for row in grid_rows(columns, rows):
        try:  # ``Name <a@b>`` too: the name goes in the To header, as through the API
            email = checked_recipient(row).address
        except InvalidRequest as exc:
            problems.append({"row": row.number, "column": "email", "message": exc.text})
            email = str(row.fields.get("email", ""))
        for name in variables:
            try:
                recipient_values([name], subject_variables, row.fields, email, row.where)
            except InvalidRequest as exc:
                problems.append({"row": row.number, "column": name, "message": exc.text})
    return problems


def _grid_body(req: falcon.Request, settings) -> dict:
    data = read_json(req, settings.max_body_bytes)
    if not isinstance(data, dict):
        raise InvalidRequest("invalid_body", Text("send a JSON object"))
    columns, rows = data.get("columns"), data.get("rows")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns) \
            or "email" not in columns:
        raise InvalidRequest("invalid_columns", Text("columns: a list of names with 'email'"),
                             field="columns")
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise InvalidRequest("invalid_rows", Text("rows: a list of lists of cells"),
                             field="rows")
    if len(rows) > MAX_ROWS:
        raise _too_many_rows()
    data["rows"] = [["" if c is None else str(c) for c in r] for r in rows]
    return data


def _too_many_rows() -> InvalidRequest:
    return InvalidRequest("too_many_rows", Text(
        "rows: at most %(max)s; upload a CSV with the plan instead", max=MAX_ROWS), field="rows")


def _template_id(data: dict) -> int | None:
    value = data.get("template_id")
    if value in (None, ""):
        return None
    template_id = row_id(str(value))
    if template_id is None:
        raise InvalidRequest("invalid_template_id", Text("template_id: a number"),
                             field="template_id")
    return template_id


class GridsPage(Page):
    """``GET /ui/grids``: the saved lists and an empty grid; ``POST`` (JSON) saves it as a
    new list."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._show(req, resp, None)

    def _show(self, req, resp, grid: Grid | None) -> None:
        key = key_of(req)
        with self.console.engine.connect() as conn:
            grids = recent_lists(conn, key.id)
            templates = list_templates(conn, key.id, limit=500)
        deleted = grid is None and req.get_param_as_bool("deleted")  # grid.js, after a delete
        self.console.render(req, resp, "grids.html", grids=grids, grid=grid,
                            variables={str(t.id): t.variables for t in templates},
                            templates=templates, notice=Text("List deleted.") if deleted else None)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._save(req, resp, None)

    def _save(self, req, resp, list_id: int | None) -> None:
        key = key_of(req)
        data = _grid_body(req, self.console.settings)
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 200:
            raise InvalidRequest("invalid_name", Text("name: 1 to 200 characters"),
                                 field="name")
        columns = data["columns"]
        rows = grid_rows(columns, data["rows"])
        values = [c for c in columns if c != "email"]
        if list_id is None:
            stored = create_list(self.console.engine, key, name, rows, values,
                                 template_id=_template_id(data),
                                 actor=self.console.actor(req))
        else:
            stored = replace_list(self.console.engine, key, list_id, name, rows, values,
                                  template_id=_template_id(data),
                                  actor=self.console.actor(req))
        resp.media = {"id": stored.id, "name": stored.name, "total": stored.total,
                      "duplicates": stored.duplicates}


def _no_list(list_id: int) -> PageNotFound:
    return PageNotFound(Text("There is no recipient list %(id)s.", id=list_id),
                        back=f"{ROOT}/grids")


class GridPage(GridsPage):
    """``/ui/grids/{grid_id}``: a saved list (made here or by ``POST /v1/lists``: the id
    is the list's) in the grid; ``POST`` replaces its rows, ``DELETE`` deletes it."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, grid_id: int) -> None:
        with self.console.engine.connect() as conn:
            grid = grid_of(conn, key_of(req).id, grid_id)
        if grid is None:
            raise _no_list(grid_id)
        self._show(req, resp, grid)

    def on_post(self, req: falcon.Request, resp: falcon.Response, grid_id: int) -> None:
        self._save(req, resp, grid_id)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, grid_id: int) -> None:
        with self.console.engine.begin() as conn:
            before = get_list(conn, key_of(req).id, grid_id)
            if before is None or not delete_list(conn, key_of(req).id, grid_id):
                raise _no_list(grid_id)
            record(conn, self.console.actor(req), "list.delete", f"list {grid_id}",
                   before={"name": before.name, "recipients": before.total})
        resp.status = falcon.HTTP_204


class CheckEndpoint(Page):
    """``POST /ui/grids/check`` (JSON ``{template_id, columns, rows}``): the cells to flag."""

    roles = {"POST": "viewer"}  # read-only

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = key_of(req)
        data = _grid_body(req, self.console.settings)
        template_id = _template_id(data)
        variables, subject_variables = [], set()
        if template_id is not None:
            with self.console.engine.connect() as conn:
                template = get_template(conn, key.id, template_id)
            if template is None:
                raise InvalidRequest("template_not_found", Text("template_id: no such template"),
                                     field="template_id")
            variables = template.variables
            subject_variables = template.source.subject_variables()
        problems = check_rows(variables, subject_variables, data["columns"], data["rows"])
        resp.media = {"errors": [{**problem, "message": message(req.context.lang,
                                                                 problem["message"])}
                                 for problem in problems]}


class ImportEndpoint(Page):
    """``POST /ui/grids/import?charset=auto|utf-8|cp949|utf-16`` (the CSV file as the body):
    its header and non-blank rows, for the grid to show and check.

    Decoded on the server by ``shared.intake.csvtext``, the decoder of every CSV
    upload: a browser's FileReader reads only UTF-8 and turns CP949 (what Korean
    Excel saves) into U+FFFD, which the grid then took for valid text.
    """

    roles = {"POST": "viewer"}  # nothing is stored: the grid is saved by its own request

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        stream = upload_stream(req, self.console.settings.max_upload_bytes)
        charset = csv_charset(dict(req.params), req.content_type)  # as the API reads it
        records = read_csv(stream, charset, limit=MAX_ROWS + 2)
        header = [name.strip() for name in (records[0] if records else [])]
        rows = [r for r in records[1:] if any(cell.strip() for cell in r)]
        if len(rows) > MAX_ROWS:
            raise _too_many_rows()
        resp.media = {"header": header, "rows": rows}


class ExportEndpoint(Page):
    """``POST /ui/grids/export?charset=utf-8-sig|cp949`` (JSON ``{name, columns, rows}``): the
    grid as a CSV file, in UTF-8 with a BOM (what Excel opens) or CP949 (Korean Excel's)."""

    roles = {"POST": "viewer"}  # read-only

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        charset = export_charset(req.get_param("charset"))
        data = _grid_body(req, self.console.settings)
        rows = [data["columns"], *(r for r in data["rows"] if any(c.strip() for c in r))]
        resp.content_type = export_content_type(charset)
        resp.downloadable_as = f"{str(data.get('name') or '').strip()[:100] or 'recipients'}.csv"
        resp.data = b"".join(csv_bytes(rows, charset))
