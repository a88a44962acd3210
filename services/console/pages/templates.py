"""Templates: list, write (WYSIWYG or HTML source), live preview, versions and restore.

Saving goes through the REST API's rules: ``TemplateBody`` validates the
fields, ``TemplateSource.variables()`` refuses a bad ``{{`` (said here by the
part's name and the tag as written: the visual editor has no lines), and
``shared.db.templates`` stores a new version.
"""

from __future__ import annotations

import falcon
from sqlalchemy.exc import IntegrityError

from services.api.media import read_json
from services.api.params import MAX_VERSION, int_value
from services.api.schemas.campaigns import TemplateBody
from services.api.schemas.messages import parse
from services.console.i18n import message
from services.console.web import ROOT, Page, PageNotFound, form, key_of, redirect
from shared.db.audit import record
from shared.db.console_queries import template_history
from shared.db.templates import (
    create_template,
    get_template,
    list_templates,
    name_taken,
    update_template,
)
from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.rendering.mustache import TemplateSource, TemplateSyntaxError, render_parts
from shared.rendering.plaintext import text_part

#: Where an error about a field is shown on the page.
FIELDS = ("name", "subject", "html", "text")


#: Each part as the editor names it.
PARTS = {"subject": Text("the subject"), "html": Text("the body"),
         "text": Text("the text part")}


def _field_of(exc: InvalidRequest) -> str:
    field = (exc.field or "").split(".")[0]
    return field if field in FIELDS else "html"


def _problem(exc: InvalidRequest) -> Text:
    """What the page says about ``exc``: a bad tag by its part and as it was written."""
    if isinstance(exc, TemplateSyntaxError) and exc.field in PARTS:
        return Text("In %(part)s, '%(tag)s' is not a variable: write {{name}} (or {{{name}}} "
                    "for HTML put in as it is), with a name of letters, digits, _, - or .",
                    part=PARTS[exc.field], tag=exc.tag)
    return exc.text


def _checked(values: dict[str, str]) -> TemplateSource:
    """The template as the REST API would accept it; InvalidRequest naming the field."""
    body = parse(TemplateBody, {"name": values.get("name", ""),
                                "subject": values.get("subject", ""),
                                "html": values.get("html", ""),
                                "text": values.get("text") or None})
    source = TemplateSource(body.subject, body.html, body.text)
    source.variables()
    return source


def _no_template(template_id: int, version: int | None = None) -> PageNotFound:
    """The 404 of a template the key does not have, or of a version it never had."""
    if version is None:
        text = Text("There is no template %(id)s.", id=template_id)
    else:
        text = Text("Template %(id)s has no version %(version)s.", id=template_id,
                    version=version)
    return PageNotFound(text, back=f"{ROOT}/templates")


def _notice(req: falcon.Request, current: int | None) -> Text | None:
    """What the page says after a save (``?saved=1``) or a restore (``?restored=n``)."""
    restored = req.get_param_as_int("restored", min_value=1)
    if current is None:
        return None
    if restored is not None:
        return Text("Version %(old)s restored, as version %(version)s.", old=restored,
                    version=current)
    if req.get_param_as_bool("saved"):
        return Text("Saved (version %(version)s).", version=current)
    return None


class TemplatesPage(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = key_of(req)
        with self.console.engine.connect() as conn:
            rows = list_templates(conn, key.id, limit=500)
        self.console.render(req, resp, "templates.html", templates=rows)


class TemplateEditPage(Page):
    """``/ui/templates/new`` and ``/ui/templates/{id}`` (``?version=n`` shows an old one)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response,
               template_id: int | None = None) -> None:
        key = key_of(req)
        version = req.get_param_as_int("version", min_value=1)
        values = {"name": "", "subject": "", "html": "<p></p>", "text": ""}
        history, current = [], None
        if template_id is not None:
            with self.console.engine.connect() as conn:
                row = get_template(conn, key.id, template_id, version)
                latest = get_template(conn, key.id, template_id)
                history = template_history(conn, key.id, template_id)
            if row is None:
                raise _no_template(template_id, version if latest is not None else None)
            values = {"name": row.name, "subject": row.subject, "html": row.html,
                      "text": row.text or ""}
            current = latest.version
        self.console.render(req, resp, "template_edit.html", template_id=template_id,
                            values=values, errors={}, history=history, shown=version,
                            current=current, notice=_notice(req, current))

    def on_post(self, req: falcon.Request, resp: falcon.Response,
                template_id: int | None = None) -> None:
        key = key_of(req)
        values = form(req)
        try:
            source = _checked(values)
            name = values["name"]
            with self.console.engine.begin() as conn:
                if template_id is None:
                    before = None
                    row = create_template(conn, key.id, name, source)
                else:
                    before = get_template(conn, key.id, template_id)
                    if name_taken(conn, key.id, name, except_id=template_id):
                        row = None
                    else:
                        row = update_template(conn, key.id, template_id, name, source)
                        if row is None:
                            raise _no_template(template_id)
                if row is not None:
                    record(conn, self.console.actor(req),
                           "template.update" if before else "template.create",
                           f"template {row.id}", before=_audited(before),
                           after=_audited(row))
        except InvalidRequest as exc:
            self._again(req, resp, template_id, values, {_field_of(exc): _problem(exc)})
            return
        except IntegrityError:  # a rename racing another one to the same name
            row = None
        if row is None:
            self._again(req, resp, template_id, values, {"name": Text(
                "This API key already has a template with this name.")})
            return
        raise redirect(f"{ROOT}/templates/{row.id}?saved=1")

    def _again(self, req, resp, template_id, values, errors) -> None:
        history = []
        if template_id is not None:
            with self.console.engine.connect() as conn:
                history = template_history(conn, key_of(req).id, template_id)
        self.console.render(req, resp, "template_edit.html", status=falcon.HTTP_400,
                            template_id=template_id, values=values, errors=errors,
                            history=history, shown=None, current=None)


def _audited(row) -> dict | None:
    """What the audit log keeps of a template version: its name, version and subject."""
    return None if row is None else {"name": row.name, "version": row.version,
                                     "subject": row.subject}


class RestoreEndpoint(Page):
    """Restoring version n makes a new version with n's parts (history is never rewritten)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, template_id: int) -> None:
        key = key_of(req)
        version = int_value(form(req), "version", min_value=1, max_value=MAX_VERSION)
        if version is None:
            raise falcon.HTTPMissingParam("version")
        with self.console.engine.begin() as conn:
            old = get_template(conn, key.id, template_id, version)
            if old is None:
                raise _no_template(template_id, version)
            current = get_template(conn, key.id, template_id)
            row = update_template(conn, key.id, template_id, current.name, old.source)
            record(conn, self.console.actor(req), "template.restore", f"template {template_id}",
                   before=_audited(current), after={**_audited(row), "from_version": old.version})
        raise redirect(f"{ROOT}/templates/{template_id}?restored={version}")


class PreviewEndpoint(Page):
    """``POST /ui/templates/preview`` (JSON): the variables found and the rendered parts.

    Read-only, so viewers may use it. A part with a bad ``{{`` answers 200
    with ``error`` naming the part and the tag, for the editor to show in place.
    """

    roles = {"POST": "viewer"}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = read_json(req, self.console.settings.max_body_bytes)
        if not isinstance(data, dict):
            raise InvalidRequest("invalid_body", Text("send a JSON object"))
        samples = data.get("values") if isinstance(data.get("values"), dict) else {}
        source = TemplateSource(str(data.get("subject", "")), str(data.get("html", "")),
                                str(data["text"]) if data.get("text") else None)
        try:
            names = source.variables()
        except InvalidRequest as exc:
            resp.media = {"error": {"field": _field_of(exc),
                                    "message": message(req.context.lang, _problem(exc))}}
            return
        values = {n: str(samples.get(n) or f"[{n}]") for n in names}
        parts = render_parts(source, values)
        # The text part as it will be sent: the template's own, else drawn from its HTML.
        resp.media = {"variables": names, "subject": parts.subject, "html": parts.html,
                      "text": text_part(parts.html, parts.text)}
