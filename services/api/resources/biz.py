"""The Biz E-mail API: ``/email/send``, ``/email/multipart/send`` and the tenant sends.

Answers ``{"code": "200", "message_id": "…"}``; the ``message_id`` is the
Message-ID the email carries. Each route takes JSON or a multipart form
(whichever the Content-Type says). ``/email/send`` becomes a tenant send
when the request names an SMTP server, as the spec's own JSON example does.

Biz clients send no API key: requests without ``x-api-key`` act as
MAILPIPE_BIZ_API_KEY, and are refused when it is unset.
"""

from __future__ import annotations

import logging

import falcon

from services.api.auth import authenticate
from services.api.media import read_json
from services.api.schemas.biz import (
    BizError,
    canonical,
    decoded_filename,
    envelope_request,
    is_tenant,
)
from services.api.throttle import charge_key
from shared.db.keys import ApiKey
from shared.errors import ConfigError, PayloadTooLarge, RequestError, TooManyRequests
from shared.intake.attachments import MAX_ATTACHMENTS, Attachment, make_attachment
from shared.intake.envelopes import accept_envelope

log = logging.getLogger("mailpipe.api.biz")

FILE_FIELDS = ("files", "files[]", "file")
#: Ordinary form fields are short; the body may be a whole HTML page.
FIELD_LIMIT = 64 * 1024


class BizSendResource:
    """One Biz send route. ``tenant``: True requires the tenant's SMTP server;
    None takes it when the request names one. ``password_required`` follows
    the spec: the multipart tenant send requires it, the JSON one does not.
    """

    auth = False  # Biz clients authenticate as MAILPIPE_BIZ_API_KEY (see _key)

    def __init__(self, deps, *, tenant: bool | None, password_required: bool = False) -> None:
        self.deps = deps
        self.tenant = tenant
        self.password_required = password_required

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            key = self._key(req)
            fields, files = self._read(req)
            tenant = self.tenant if self.tenant is not None else is_tenant(fields)
            request = envelope_request(fields, files, tenant=tenant,
                                       password_required=self.password_required)
            accepted = accept_envelope(self.deps.engine, self.deps.broker, key, request,
                                       self.deps.settings)
        except (BizError, TooManyRequests):
            raise  # TooManyRequests: the 429 with Retry-After of every route
        except PayloadTooLarge as exc:
            raise BizError("410", exc.message, status=413) from None
        except RequestError as exc:
            if exc.code == "missing_field" and exc.field == "from":
                log.error("Biz send without a sender: set MAILPIPE_DEFAULT_FROM")
                raise BizError("500", "no sender address is configured", status=500) from None
            raise BizError("410", exc.message) from None
        except ConfigError as exc:
            log.error("Biz send refused: %s", exc)
            raise BizError("500", "the server is not configured for this request",
                           status=500) from None
        except Exception:
            # The Biz contract answers every failure with its own body.
            log.exception("Biz send failed")
            raise BizError("500", status=500) from None
        resp.media = {"code": "200", "message_id": accepted.mime_message_id}

    def _key(self, req: falcon.Request) -> ApiKey:
        plain = req.get_header("X-API-KEY")
        if not plain and self.deps.settings.biz_api_key is not None:
            plain = self.deps.settings.biz_api_key.get_secret_value()
        if not plain:
            raise BizError("401", "send x-api-key, or set MAILPIPE_BIZ_API_KEY on the server",
                           status=401)
        key = authenticate(self.deps.engine, self.deps.guards, req, plain)
        if key is None:
            raise BizError("401", "the API key is unknown or revoked", status=401)
        charge_key(self.deps.guards.intake, key)
        return key

    def _read(self, req: falcon.Request) -> tuple[dict, list[Attachment]]:
        settings = self.deps.settings
        if req.content_type and req.content_type.startswith("multipart/form-data"):
            limit = settings.max_attachment_bytes + settings.max_body_bytes
            if req.content_length is not None and req.content_length > limit:
                raise BizError("410", f"the request is {req.content_length} bytes; the limit "
                               f"is {limit}", status=413)
            return self._read_form(req)
        try:
            body = read_json(req, settings.max_body_bytes)
        except PayloadTooLarge as exc:
            raise BizError("410", exc.message, status=413) from None
        except RequestError as exc:
            raise BizError("410", exc.message) from None
        if not isinstance(body, dict):
            raise BizError("410", "the body must be a JSON object")
        return canonical(body), []

    def _read_form(self, req: falcon.Request) -> tuple[dict, list[Attachment]]:
        settings = self.deps.settings
        fields: dict[str, str] = {}
        files: list[Attachment] = []
        remaining = settings.max_attachment_bytes
        try:
            for part in req.get_media():
                if part.name in FILE_FIELDS and part.filename is not None:
                    data = part.stream.read(remaining + 1)
                    if len(data) > remaining:
                        raise BizError("410", "files: the attachments are over the limit of "
                                       f"{settings.max_attachment_bytes} bytes", status=413)
                    remaining -= len(data)
                    if part.filename or data:  # an empty file input sends neither
                        files.append(make_attachment(decoded_filename(part.filename), data,
                                                     part.content_type, field_name="files"))
                    continue
                limit = settings.max_body_bytes if part.name == "body" else FIELD_LIMIT
                raw = part.stream.read(limit + 1)
                if len(raw) > limit:
                    raise BizError("410", f"{part.name}: longer than {limit} bytes", status=413)
                fields[part.name] = raw.decode("utf-8")
        except falcon.MediaMalformedError as exc:
            raise BizError("410", f"the form cannot be read: {exc.description}") from None
        except UnicodeDecodeError:
            raise BizError("410", "form fields must be UTF-8 text") from None
        except RequestError as exc:
            raise BizError("410", exc.message) from None
        return canonical(fields), files


def handle_biz_error(req: falcon.Request, resp: falcon.Response, ex: BizError, params) -> None:
    resp.status = falcon.code_to_http_status(ex.status)
    resp.media = ex.to_dict()


def install(app: falcon.App, deps) -> None:
    """The Biz routes, their error answer, and room in the form parser for many files."""
    app.add_error_handler(BizError, handle_biz_error)
    options = app.req_options.media_handlers[falcon.MEDIA_MULTIPART].parse_options
    options.max_body_part_count = max(options.max_body_part_count, MAX_ATTACHMENTS + 32)
    app.add_route("/email/send", BizSendResource(deps, tenant=None))
    app.add_route("/email/multipart/send", BizSendResource(deps, tenant=None))
    app.add_route("/email/tenant/send", BizSendResource(deps, tenant=True))
    app.add_route("/email/multipart/tenant/send",
                  BizSendResource(deps, tenant=True, password_required=True))
