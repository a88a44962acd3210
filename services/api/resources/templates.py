"""``/v1/templates``: create, list, read, update (a new version), delete, render a preview."""

from __future__ import annotations

import falcon
from sqlalchemy.exc import IntegrityError

from services.api.media import read_json
from services.api.params import MAX_ID, MAX_VERSION, int_param
from services.api.schemas.campaigns import RenderBody, TemplateBody
from services.api.schemas.messages import parse
from services.api.views.campaigns import template_summary, template_view
from shared.db.templates import (
    TemplateRow,
    create_template,
    delete_template,
    get_template,
    list_templates,
    name_taken,
    update_template,
)
from shared.errors import Conflict, NotFound
from shared.i18n import Text, ntext
from shared.rendering.mustache import MissingVariable, TemplateSource, as_text, render_parts
from shared.rendering.plaintext import text_part

#: Templates per page of ``GET /v1/templates``.
PAGE = 100


def _source(body: TemplateBody) -> TemplateSource:
    """The parts, checked for template syntax (raises naming the part and line)."""
    source = TemplateSource(body.subject, body.html, body.text)
    source.variables()
    return source


def _name_taken(name: str) -> Conflict:
    return Conflict("template_name_taken", Text(
        "name: this API key already has a template named %(name)r", name=name), field="name")


class TemplatesResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(TemplateBody, read_json(req, self.deps.settings.max_body_bytes))
        source = _source(body)
        with self.deps.engine.begin() as conn:
            row = create_template(conn, req.context.api_key.id, body.name, source)
        if row is None:
            raise _name_taken(body.name)
        resp.status = falcon.HTTP_201
        resp.location = f"/v1/templates/{row.id}"
        resp.media = template_view(row)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        after = int_param(req, "after", min_value=0, max_value=MAX_ID, default=0)
        with self.deps.engine.connect() as conn:
            rows = list_templates(conn, req.context.api_key.id, after=after, limit=PAGE)
        resp.media = {
            "templates": [template_summary(r) for r in rows],
            "next": f"/v1/templates?after={rows[-1].id}" if len(rows) == PAGE else None,
        }


class TemplateResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def _get(self, req: falcon.Request, template_id: int, version: int | None) -> TemplateRow:
        with self.deps.engine.connect() as conn:
            row = get_template(conn, req.context.api_key.id, template_id, version)
        if row is None:
            raise NotFound("template_not_found", Text(
                "no template %(id)s version %(version)s for this API key", id=template_id,
                version=version) if version else Text(
                "no template %(id)s for this API key", id=template_id))
        return row

    def on_get(self, req: falcon.Request, resp: falcon.Response, template_id: int) -> None:
        version = int_param(req, "version", min_value=1, max_value=MAX_VERSION)
        resp.media = template_view(self._get(req, template_id, version))

    def on_put(self, req: falcon.Request, resp: falcon.Response, template_id: int) -> None:
        body = parse(TemplateBody, read_json(req, self.deps.settings.max_body_bytes))
        source = _source(body)
        key_id = req.context.api_key.id
        try:
            with self.deps.engine.begin() as conn:
                if name_taken(conn, key_id, body.name, except_id=template_id):
                    raise _name_taken(body.name)
                row = update_template(conn, key_id, template_id, body.name, source)
        except IntegrityError:  # a rename racing another one to the same name
            raise _name_taken(body.name) from None
        if row is None:
            raise NotFound("template_not_found", Text("no template %(id)s for this API key",
                                                      id=template_id))
        resp.media = template_view(row)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, template_id: int) -> None:
        with self.deps.engine.begin() as conn:
            deleted = delete_template(conn, req.context.api_key.id, template_id)
        if not deleted:
            raise NotFound("template_not_found", Text("no template %(id)s for this API key",
                                                      id=template_id))
        resp.status = falcon.HTTP_204


class TemplateRenderResource:
    """A preview: what one recipient with these values would receive."""

    def __init__(self, deps) -> None:
        self.deps = deps
        self.template = TemplateResource(deps)

    def on_post(self, req: falcon.Request, resp: falcon.Response, template_id: int) -> None:
        body = parse(RenderBody, read_json(req, self.deps.settings.max_body_bytes))
        row = self.template._get(req, template_id, body.version)
        values = {name: text for name, value in body.variables.items()
                  if (text := as_text(value)) is not None}
        missing = [name for name in row.variables if name not in values]
        if missing:
            raise MissingVariable("missing_variable", ntext(
                "variables: no value for variable %(names)s",
                "variables: no value for variables %(names)s", len(missing),
                names=", ".join(repr(m) for m in missing)), field=f"variables.{missing[0]}")
        parts = render_parts(row.source, values)
        # The text part as sent: the template's own, else drawn from its HTML.
        resp.media = {"version": row.version, "subject": parts.subject, "html": parts.html,
                      "text": text_part(parts.html, parts.text)}
