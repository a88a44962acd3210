"""The compatibility APIs' operations (Biz E-mail API, fureweb mailer), in their own tags.

Their bodies are the pydantic models that validate them
(``services.api.schemas.biz``, ``.fureweb``); their answers keep the seed
systems' shapes and code tables (``services.api.resources.biz.DESCRIPTIONS``),
so errors are declared with those models rather than the native ``Error``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api.resources import biz, fureweb
from services.api.schemas.biz import BizSend, BizTenantSend, BizTenantSendWithPassword
from services.api.schemas.fureweb import FurewebMail
from services.api.spec.operation import Body, Operation, Param, Reply, text

BIZ_TAG = "compat: Biz E-mail API"
FUREWEB_TAG = "compat: fureweb mailer"


class BizAnswer(BaseModel):
    """Every Biz answer: ``code`` from the spec's table, the email's Message-ID once sent."""

    model_config = ConfigDict(extra="forbid")

    code: Literal[tuple(biz.DESCRIPTIONS)]  # type: ignore[valid-type]
    message_id: str = Field(description="the Message-ID recipients receive (with SES, the "
                            "one SES writes); empty on error, and while SES has not sent it")
    id: int | None = Field(None, description="mailpipe's message (GET /v1/messages/{id})")
    message: str | None = Field(None, description="the code's description and the reason")


class FurewebAnswer(BaseModel):
    """Every fureweb answer; the HTTP status equals ``code``."""

    model_config = ConfigDict(extra="forbid")

    code: int
    message: str
    id: int | None = Field(None, description="the message, with isSync")
    messageId: str | None = Field(None, description="the provider's id, with isSync once sent")


def _form(model: type[BaseModel]) -> dict:
    """A multipart form of ``model``'s fields (text, as forms send them) and the files."""
    schema = model.model_json_schema(by_alias=True)
    properties = {name: {"type": "string"} for name in schema["properties"]}
    properties["files"] = {"type": "array", "items": {"type": "string", "format": "binary"}}
    return {"type": "object", "properties": properties, "required": schema.get("required", [])}


_SEND = {"to": "<ann@example.com>", "subject": "Hello", "body": "<p>Hello</p>",
         "from": "news@example.com"}
_TENANT = {**_SEND, "smtp_url": "smtp://mail.example.com:587", "ssl": False,
           "user": "news@example.com", "password": "secret"}
_BIZ_CODES = ", ".join(f"{code} {text!r}" for code, text in biz.DESCRIPTIONS.items())
_BIZ_ERRORS = {401: ("410",), 413: ("410",), 500: ("500",)}


def _biz(summary: str, json_models: tuple[type[BaseModel], ...], example: dict) -> Operation:
    return Operation(
        summary, BIZ_TAG,
        (Reply(200, f"sent (code 200: the send's outcome is recorded), or a parameter "
               f"error: {_BIZ_CODES}", BizAnswer,
               example={"code": "200", "message_id": "abc@mail.example.com", "id": 1}),
         Reply(202, "code 200: stored and still sent, but no outcome within "
               "MAILPIPE_MAX_SYNC_WAIT (or it is unknown); message_id is empty with SES",
               BizAnswer)),
        description="JSON or a multipart form, whichever the Content-Type says. Without "
        "x-api-key the request acts as MAILPIPE_BIZ_API_KEY. Answers once the send's "
        "outcome is recorded; a failed send is HTTP 500, code 500; a wrong x-api-key, or "
        "none while MAILPIPE_BIZ_API_KEY is unset, is HTTP 401, code 410.",
        bodies=(Body(example, json_models),
                Body(example, schema=_form(json_models[-1]), media="multipart/form-data")),
        errors=_BIZ_ERRORS, error_model=BizAnswer,
    )


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/email/send", "post"): _biz(
        "Send (a tenant send when the request names an SMTP server)",
        (BizSend, BizTenantSend), _SEND),
    ("/email/multipart/send", "post"): _biz(
        "Send with attachments (a tenant send when the request names an SMTP server)",
        (BizSend, BizTenantSend), _SEND),
    ("/email/tenant/send", "post"): _biz(
        "Send through the tenant's own SMTP server", (BizTenantSend,), _TENANT),
    ("/email/multipart/tenant/send", "post"): _biz(
        "Send through the tenant's SMTP server, with attachments (password required)",
        (BizTenantSendWithPassword,), _TENANT),
}

_CORS = ("Access-Control-Allow-Origin", "Vary")
_MAIL = Operation(
    "Send a mail (the key travels in the body)", FUREWEB_TAG,
    (Reply(200, '"OK"; with isSync, once sent (with messageId). From a web page, '
           "Access-Control-Allow-Origin echoes an Origin on the key's domains",
           FurewebAnswer, example={"code": 200, "message": "OK"}, headers=_CORS),
     Reply(202, "with isSync: no result within MAILPIPE_MAX_SYNC_WAIT, or the outcome is "
           "unknown (still sent; id names it)", FurewebAnswer)),
    bodies=(Body({"isSync": False, "key": "mp_…", "from": "news@example.com",
                  "to": ["ann@example.com"], "cc": [], "title": "Hello",
                  "content": "<p>Hello</p>"}, FurewebMail),),
    description="A POST whose Origin is not on the key's domains (or a subdomain of one) "
    "is refused with 403 and stores nothing.",
    errors={400: ("400",), 403: ("403",), 406: ("406",), 413: ("413",), 500: ("500",)},
    error_model=FurewebAnswer,
)
_PREFLIGHT = Operation(
    "CORS preflight of a web page's POST", FUREWEB_TAG,
    (Reply(204, "no body; for an Origin whose host is a domain an active key names (or a "
           "subdomain of one): Access-Control-Allow-Origin (the origin), -Methods (POST, "
           "OPTIONS), -Headers (content-type) and -Max-Age; for any other, none of them",
           headers=(*_CORS, "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
                    "Access-Control-Max-Age")),),
    params=(Param("Origin", text(), "the calling page's origin", where="header"),),
)
for _path in fureweb.ROUTES:
    OPERATIONS[(_path, "post")] = _MAIL
    OPERATIONS[(_path, "options")] = _PREFLIGHT
