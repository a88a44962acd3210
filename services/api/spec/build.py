"""Building the OpenAPI 3.1 document from the app's routes and the declared operations.

``served_routes(app)`` walks falcon's router: every route template and the
methods its resource implements (``on_get``, ``on_post`` …). ``openapi(app)``
takes each one's path fields from the template (``{message_id:row_id}``, a
``params.ID_FIELD``, becomes an integer parameter from 1 to MAX_ID), whether it needs
an API key from the resource (``auth = False`` is public), and the rest
from ``OPERATIONS``. A served route without a declared operation raises
``UndeclaredRoute``: the description cannot fall behind the app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import falcon
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.api.params import ID_FIELD, MAX_ID
from services.api.spec import answers, compat, native, webhooks
from services.api.spec.operation import JSON, Operation

OPERATIONS: dict[tuple[str, str], Operation] = {**native.OPERATIONS, **compat.OPERATIONS,
                                                **webhooks.OPERATIONS}
REF = "#/components/schemas/{model}"
_FIELD = re.compile(r"\{(\w+)(?::(\w+)(?:\((.*?)\))?)?\}")

#: Every authenticated route may answer these, whatever it does.
AUTH_ERRORS = {401: ("missing_api_key", "invalid_api_key"), 429: ("rate_limited",)}
#: Every ``/v1/`` route refuses a NUL in its path or query (services.api.params).
TEXT_ERRORS = {400: ("invalid_character",)}
#: Every route may answer these while PostgreSQL or Redis is restarting.
DOWN_ERRORS = {503: ("database_unavailable", "queue_unavailable")}
TAG_GROUPS = [
    {"name": "Native API", "tags": ["messages", "topics", "events", "tracking",
                                    "suppressions", "templates", "lists", "campaigns",
                                    "webhooks"]},
    {"name": "Compatibility APIs", "tags": [compat.BIZ_TAG, compat.FUREWEB_TAG]},
    {"name": "Operations", "tags": ["operations"]},
]


class UndeclaredRoute(LookupError):
    """Raised when the app serves a route and method that no Operation describes."""


#: The web console's pages (HTML for people, CSRF-protected forms) are not part
#: of the API a producer calls; tests/console proves them in a real browser.
NOT_API = ("/ui",)


def served_routes(app: falcon.App) -> Iterator[tuple[str, object, list[str]]]:
    """(uri template, resource, implemented methods in lower case) of every API route."""
    def walk(nodes):
        for node in nodes:
            if node.resource is not None and not node.uri_template.startswith(NOT_API):
                methods = [m.lower() for m in node.method_map
                           if callable(getattr(node.resource, f"on_{m.lower()}", None))]
                yield node.uri_template, node.resource, methods
            yield from walk(node.children)

    yield from walk(app._router._roots)


def openapi_path(template: str) -> str:
    """``/v1/messages/{message_id:row_id}`` as OpenAPI writes it (``{message_id}``)."""
    return _FIELD.sub(lambda m: "{" + m.group(1) + "}", template)


def _path_fields(template: str, overrides: dict[str, dict]) -> list[dict]:
    fields = []
    for name, converter, _ in _FIELD.findall(template):
        schema: dict[str, Any] = {"type": "string"}
        if converter == ID_FIELD:  # IdConverter: ASCII digits for 1..MAX_ID
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        fields.append({"name": name, "in": "path", "required": True,
                       "schema": overrides.get(name, schema)})
    return fields


def _models(operations: list[Operation]) -> tuple[dict, dict]:
    """Components for every model the operations name: (model, mode) -> $ref, and the defs."""
    wanted: set[tuple[type[BaseModel], str]] = {(answers.Error, "serialization")}
    for op in operations:
        for body in op.bodies:
            models = body.model if isinstance(body.model, tuple) else (body.model,)
            wanted.update((m, "validation") for m in models if m is not None)
        wanted.update((r.model, "serialization") for r in op.replies if r.model is not None)
        if op.error_model is not None:
            wanted.add((op.error_model, "serialization"))
    ordered = sorted(wanted, key=lambda pair: (pair[0].__name__, pair[1]))
    refs, defs = models_json_schema(ordered, by_alias=True, ref_template=REF)
    return refs, defs.get("$defs", {})


def _content(schema: dict, media: str, example: Any) -> dict:
    entry: dict[str, Any] = {"schema": schema}
    if example is not None:
        entry["example"] = example
    return {media: entry}


def _body(op: Operation, refs: dict) -> dict | None:
    if not op.bodies:
        return None
    content = {}
    for body in op.bodies:
        if body.schema is not None:
            schema = body.schema
        elif isinstance(body.model, tuple):
            schema = {"anyOf": [refs[(m, "validation")] for m in body.model]}
        else:
            schema = refs[(body.model, "validation")]
        content |= _content(schema, body.media, body.example)
    return {"required": True, "content": content,
            "description": " ".join(b.description for b in op.bodies if b.description)}


def _responses(op: Operation, refs: dict, *, auth: bool, head: bool, fields: bool,
               native: bool = False) -> dict:
    responses: dict[str, dict] = {}
    for reply in op.replies:
        entry = responses.setdefault(str(reply.status), {"description": reply.description})
        if reply.headers:
            entry["headers"] = {h: {"schema": {"type": "string"}} for h in reply.headers}
        if head:
            continue
        if reply.model is not None or reply.schema is not None:
            schema = reply.schema if reply.model is None else refs[(reply.model, "serialization")]
            entry.setdefault("content", {}).update(_content(schema, reply.media, reply.example))
    errors = {**(AUTH_ERRORS if auth else {}), **DOWN_ERRORS, **op.errors}
    if native:
        errors[400] = tuple(dict.fromkeys((*errors.get(400, ()), *TEXT_ERRORS[400])))
    if fields:  # a field out of the route's bounds matches no route
        errors.setdefault(404, ())
    error_ref = refs[(op.error_model or answers.Error, "serialization")]
    for status, codes in sorted(errors.items()):
        said = ", ".join(f"`{c}`" for c in codes) or "`not_found` (no such route)"
        entry = responses.setdefault(str(status), {"description": f"code {said}"})
        if entry["description"] != f"code {said}":
            entry["description"] += f"; on error, code {said}"
        if status == 429:
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        if not head:
            example = {"code": codes[0] if codes else "not_found", "message": "…",
                       "error": "…"}
            if op.error_model is None:
                entry.setdefault("content", {}).setdefault(JSON, {"schema": error_ref,
                                                                  "example": example})
            else:
                entry.setdefault("content", {}).setdefault(JSON, {"schema": error_ref})
    return responses


def _operation(template: str, method: str, op: Operation, refs: dict, auth: bool,
               optional_key: bool) -> dict:
    path = openapi_path(template)
    head = method == "head"
    doc: dict[str, Any] = {
        "operationId": f"{method}{re.sub(r'[^A-Za-z0-9]+', '_', path)}".rstrip("_"),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": [*_path_fields(template, op.path),
                       *({"name": p.name, "in": p.where, "required": p.required,
                          "schema": p.schema, "description": p.description}
                         for p in op.params)],
        "responses": _responses(op, refs, auth=auth, head=head, fields="{" in template,
                                native=template.startswith("/v1/")),
        "security": [{"apiKey": []}] if auth else ([{}, {"apiKey": []}] if optional_key else []),
    }
    if op.description:
        doc["description"] = op.description
    if not head and (body := _body(op, refs)) is not None:
        doc["requestBody"] = body
    return doc


def _declared(path: str, method: str) -> Operation:
    # HEAD is answered by on_get (``on_head = on_get``): GET's description, without bodies.
    op = OPERATIONS.get((path, "get" if method == "head" else method))
    if op is None:
        raise UndeclaredRoute(f"{method.upper()} {path} is served but has no Operation in "
                              "services.api.spec (native or compat)")
    return op


def openapi(app: falcon.App, *, server_url: str | None = None) -> dict:
    """The whole OpenAPI 3.1 document of ``app``."""
    found = [(template, resource, method, _declared(openapi_path(template), method))
             for template, resource, methods in served_routes(app) for method in methods]
    refs, defs = _models([op for *_, op in found])
    paths: dict[str, dict] = {}
    for template, resource, method, op in found:
        auth = getattr(resource, "auth", True)
        optional_key = op.tag == compat.BIZ_TAG
        paths.setdefault(openapi_path(template), {})[method] = _operation(
            template, method, op, refs, auth, optional_key)
    return {
        "openapi": "3.1.0",
        "info": {"title": "mailpipe", "version": version(),
                 "description": "Email sending on Amazon SES: the native REST API (v1) and "
                 "the compatibility APIs of the systems it replaces. Errors are JSON with a "
                 "stable `code` and a human `message`."},
        **({"servers": [{"url": server_url}]} if server_url else {}),
        "paths": dict(sorted(paths.items())),
        # What mailpipe POSTs to the producers' endpoints (OpenAPI 3.1), per event type.
        "webhooks": webhooks.webhooks_section(),
        "components": {
            "schemas": {**defs, "WebhookEnvelope": webhooks.ENVELOPE_SCHEMA},
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header",
                                           "name": "x-api-key"}},
        },
        "tags": [{"name": tag} for group in TAG_GROUPS for tag in group["tags"]],
        "x-tagGroups": TAG_GROUPS,
    }


def version() -> str:
    try:
        return metadata.version("mailpipe")
    except metadata.PackageNotFoundError:
        return "0.0.0"
