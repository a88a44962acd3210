"""``/v1/lists``: saved recipient lists (JSON or a CSV upload), read page by page, deleted.

The console's recipient grids are these lists (``/ui/grids/{id}`` opens one for
editing): a list saved there is listed here, and one made here opens there.

A campaign names a list with ``listId`` instead of carrying ``recipients``.
``POST /v1/lists`` takes ``{"name", "recipients": [{"email", ...values}]}``
or a CSV body (``Content-Type: text/csv``, ``?name=``; header: ``email``
and the value columns), its charset named by ``?charset=`` or the Content-Type,
else detected, as a campaign's (``shared.intake.csvtext``).
"""

from __future__ import annotations

from typing import Any

import falcon
from pydantic import BaseModel, ConfigDict, Field

from services.api.media import csv_charset, read_json, upload_stream
from services.api.params import MAX_ID, int_param
from services.api.schemas.campaigns import Name
from services.api.schemas.messages import parse
from shared.db.recipient_lists import RecipientList, delete_list, get_list, list_lists, list_rows
from shared.errors import InvalidRequest, NotFound
from shared.i18n import Text
from shared.intake.campaigns import csv_rows, json_rows
from shared.intake.recipient_lists import columns_of, create_list

PAGE = 100
ROWS_PAGE = 1000


class ListBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    recipients: list[Any] = Field(min_length=1)


class ListName(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name


def list_view(stored: RecipientList) -> dict:
    return {"id": stored.id, "name": stored.name, "columns": stored.columns,
            "total": stored.total, "duplicates": stored.duplicates,
            "templateId": stored.template_id, "createdAt": stored.created_at.isoformat(),
            "updatedAt": stored.updated_at.isoformat()}


class RecipientListsResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        media_type, _ = falcon.parse_header(req.content_type or "application/json")
        key = req.context.api_key
        if media_type == "text/csv":
            values = dict(req.params)
            charset = csv_charset(values, req.content_type)
            name = parse(ListName, values).name
            stream = upload_stream(req, self.deps.settings.max_upload_bytes)
            stored = create_list(self.deps.engine, key, name,
                                 csv_rows(stream, [], charset=charset))
        elif media_type == "application/json":
            body = parse(ListBody, read_json(req, self.deps.settings.max_body_bytes))
            rows = list(json_rows(body.recipients))
            stored = create_list(self.deps.engine, key, body.name, rows, columns_of(rows))
        else:
            raise InvalidRequest("unsupported_media_type", Text(
                "Content-Type %(type)r: send application/json or text/csv (with ?name=)",
                type=media_type))
        resp.status = falcon.HTTP_201
        resp.location = f"/v1/lists/{stored.id}"
        resp.media = list_view(stored)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        after = int_param(req, "after", min_value=0, max_value=MAX_ID, default=0)
        with self.deps.engine.connect() as conn:
            rows = list_lists(conn, req.context.api_key.id, after=after, limit=PAGE)
        resp.media = {"lists": [list_view(r) for r in rows],
                      "next": f"/v1/lists?after={rows[-1].id}" if len(rows) == PAGE else None}


class RecipientListResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, list_id: int) -> None:
        # A row number within the list (INTEGER).
        after = int_param(req, "after", min_value=0, max_value=2**31 - 1, default=0)
        with self.deps.engine.connect() as conn:
            stored = get_list(conn, req.context.api_key.id, list_id)
            if stored is None:
                raise NotFound("list_not_found", Text("no list %(id)s for this API key",
                                                      id=list_id))
            rows = list(list_rows(conn, list_id, after=after, limit=ROWS_PAGE))
        following = None
        if len(rows) == ROWS_PAGE:
            following = f"/v1/lists/{list_id}?after={rows[-1][0]}"
        resp.media = {**list_view(stored), "next": following,
                      "recipients": [{"email": str(recipient), **values}
                                     for _, recipient, values in rows]}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, list_id: int) -> None:
        with self.deps.engine.begin() as conn:
            if not delete_list(conn, req.context.api_key.id, list_id):
                raise NotFound("list_not_found", Text("no list %(id)s for this API key",
                                                      id=list_id))
        resp.status = falcon.HTTP_204
