"""The Biz E-mail API: ``/email/send``, ``/email/multipart/send`` and the tenant sends.

Code 200 means sent (발송 성공), so a send answers once its outcome is recorded
(within MAILPIPE_MAX_SYNC_WAIT, through ``services.api.sync.wait_capped``):
HTTP 200 ``{"code": "200", "message_id": "…", "id": N}`` with the Message-ID
recipients receive (with SES, the one SES writes; otherwise the one mailpipe
generated), HTTP 500 code "500" when the send failed, and HTTP 202 code "200"
while the outcome is not known (the wait ran out, or the connection dropped
after the message went out): the message is stored and still sent, and a
Biz client that read anything but 200 as a failure would send it twice.
Each route takes JSON or a multipart form (whichever the Content-Type says).
``/email/send`` becomes a tenant send when the request names an SMTP server,
as the spec's own JSON example does.

Biz clients send no API key: requests without ``x-api-key`` act as
MAILPIPE_BIZ_API_KEY. A wrong key, or none when MAILPIPE_BIZ_API_KEY is unset,
is code 410 with HTTP 401: the caller's credential is missing or wrong, and a
500 would tell its client to retry the same request.
"""

from __future__ import annotations

import logging

import falcon

from services.api.auth import authenticate
from services.api.errors import BAD_INPUT, describe_bad_input
from services.api.media import read_json
from services.api.schemas.biz import biz_request, decoded_filename
from services.api.sync import wait_capped
from services.api.throttle import charge_key
from shared.db.envelopes import SendResult
from shared.db.keys import ApiKey
from shared.errors import (
    ConfigError,
    InvalidRequest,
    PayloadTooLarge,
    RequestError,
    TooManyRequests,
    Unauthorized,
)
from shared.i18n import Text
from shared.intake.attachments import MAX_ATTACHMENTS, Attachment, make_attachment
from shared.intake.envelopes import accept_envelope
from shared.states import ACCEPTED
from shared.states import MessageState as S
from shared.transports.ses import received_message_id, ses_region

log = logging.getLogger("mailpipe.api.biz")

FILE_FIELDS = ("files", "files[]", "file")
#: Ordinary form fields are short; the body may be a whole HTML page.
FIELD_LIMIT = 64 * 1024


class BizSendResource:
    """One Biz send route. ``tenant``: True requires the tenant's SMTP server;
    None takes it when the request names one. ``password_required`` follows
    the spec: the multipart tenant send requires it, the JSON one does not.
    Every error is answered by ``BizErrors``.
    """

    auth = False  # Biz clients authenticate as MAILPIPE_BIZ_API_KEY (see _key)

    def __init__(self, deps, *, tenant: bool | None, password_required: bool = False) -> None:
        self.deps = deps
        self.tenant = tenant
        self.password_required = password_required
        settings = deps.settings
        #: SES's region when SES sends (it names the Message-ID recipients get).
        self.ses_region = ses_region(settings) if settings.transport == "ses" else None

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = self._key(req)
        fields, files = self._read(req)
        request = biz_request(fields, files, tenant=self.tenant,
                              password_required=self.password_required)
        deps = self.deps
        accepted = accept_envelope(deps.engine, deps.broker, key, request, deps.settings)
        done, results = wait_capped(deps, key.id, [accepted.id], deps.settings.max_sync_wait)
        status, resp.media = self._answer(done, results[accepted.id])
        resp.status = falcon.code_to_http_status(status)

    def _answer(self, done: bool, result: SendResult) -> tuple[int, dict]:
        """(HTTP status, body) for a send whose outcome is ``result`` (``done``: recorded)."""
        through_ses = self.deps.settings.transport == "ses" and not result.relayed
        if done and result.state in ACCEPTED:
            message_id = result.mime_message_id
            if through_ses and result.provider_message_id:
                message_id = received_message_id(result.provider_message_id, self.ses_region)
            return 200, {"code": "200", "message_id": message_id, "id": result.id}
        if done and result.state != S.UNKNOWN:  # failed, suppressed, cancelled
            reason = result.error or f"the message is {result.state}"
            return 500, {"code": "500", "message_id": "", "id": result.id,
                         "message": f"{DESCRIPTIONS['500']} not sent: {reason}"}
        # Not known yet: SES has not named the Message-ID yet, any other transport keeps ours.
        why = ("the send's outcome is unknown (it may have been delivered)"
               if done else "accepted; the send's result is not known yet")
        return 202, {"code": "200", "message_id": "" if through_ses else result.mime_message_id,
                     "id": result.id, "message": f"[Pending] {why}: GET /v1/messages/{result.id}"}

    def _key(self, req: falcon.Request) -> ApiKey:
        plain = req.get_header("X-API-KEY")
        if not plain and self.deps.settings.biz_api_key is not None:
            plain = self.deps.settings.biz_api_key.get_secret_value()
        if not plain:
            raise Unauthorized("missing_api_key", Text(
                "no key was sent, and the server sets no MAILPIPE_BIZ_API_KEY"))
        key = authenticate(self.deps.engine, self.deps.guards, req, plain)
        if key is None:
            raise Unauthorized("invalid_api_key", Text("the API key is unknown or revoked"))
        charge_key(self.deps.guards.intake, key)
        return key

    def _read(self, req: falcon.Request) -> tuple[object, list[Attachment]]:
        settings = self.deps.settings
        if req.content_type and req.content_type.startswith("multipart/form-data"):
            limit = settings.max_attachment_bytes + settings.max_body_bytes
            if req.content_length is not None and req.content_length > limit:
                raise PayloadTooLarge("body_too_large", Text(
                    "the request is %(size)s bytes; the limit is %(max)s",
                    size=req.content_length, max=limit))
            return self._read_form(req)
        return read_json(req, settings.max_body_bytes), []

    def _read_form(self, req: falcon.Request) -> tuple[dict, list[Attachment]]:
        settings = self.deps.settings
        fields: dict[str, str] = {}
        files: list[Attachment] = []
        remaining = settings.max_attachment_bytes
        for part in req.get_media():
            if part.name in FILE_FIELDS and part.filename is not None:
                data = part.stream.read(remaining + 1)
                if len(data) > remaining:
                    raise PayloadTooLarge("attachments_too_large", Text(
                        "files: the attachments are over the limit of %(max)s bytes",
                        max=settings.max_attachment_bytes), field="files")
                remaining -= len(data)
                if part.filename or data:  # an empty file input sends neither
                    files.append(make_attachment(decoded_filename(part.filename), data,
                                                 part.content_type,
                                                 field_name=f"files[{len(files)}]"))
                continue
            limit = settings.max_body_bytes if part.name == "body" else FIELD_LIMIT
            raw = part.stream.read(limit + 1)
            if len(raw) > limit:
                raise PayloadTooLarge("field_too_large", Text(
                    "%(field)s: longer than %(max)s bytes", field=part.name, max=limit),
                    field=part.name)
            fields[part.name] = _utf8(raw, part.name)
        return fields, files


def _utf8(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("invalid_encoding", Text(
            "%(field)s: form fields must be UTF-8 text", field=name)) from None


#: The spec's code table, as the ``message`` of an error answer starts.
DESCRIPTIONS = {
    "200": "OK",
    "410": "[Error] parameter invalid.",
    "411": "[Error] parameter invalid.(to)",
    "421": "[Error] parameter invalid.(user)",
    "422": "[Error] parameter invalid.(smtp_url)",
    "423": "[Error] parameter invalid.(password)",
    "500": "[Error] Server",
}
#: The fields with a code of their own; any other bad field is 410.
FIELD_CODES = {"to": "411", "user": "421", "smtp_url": "422", "password": "423"}
#: Each route and how its resource reads a request.
ROUTES = {
    "/email/send": {"tenant": None},
    "/email/multipart/send": {"tenant": None},
    "/email/tenant/send": {"tenant": True},
    "/email/multipart/tenant/send": {"tenant": True, "password_required": True},
}


class BizErrors:
    """Every error on a Biz route, as the spec's ``{"code", "message_id"}`` answer.

    The HTTP status is 200 for parameter errors (Biz clients read ``code``),
    413 for a body or attachments over the cap, 401 with code 410 for a wrong
    or missing key (a parameter the client must fix: the 500 family would read
    as "retry later"), 500 for server errors (with "[Error] Server" and nothing
    more for the unexpected).
    """

    routes = frozenset(ROUTES)

    def answer(self, req: falcon.Request, resp: falcon.Response, ex: Exception) -> bool:
        found = self._code(ex)
        if found is None:
            return False
        status, code, detail = found
        resp.status = falcon.code_to_http_status(status)
        resp.media = {"code": code, "message_id": "",
                      "message": f"{DESCRIPTIONS.get(code, '[Error]')} {detail}".strip()}
        return True

    def _code(self, ex: Exception) -> tuple[int, str, str] | None:
        if isinstance(ex, TooManyRequests):
            return None  # the spec has no 429: the standard one, with Retry-After
        if isinstance(ex, PayloadTooLarge):
            return 413, "410", ex.message
        if isinstance(ex, Unauthorized):  # no key (and no MAILPIPE_BIZ_API_KEY), or a wrong one
            return 401, "410", f"x-api-key: {ex.message}"
        if isinstance(ex, RequestError):
            if ex.code == "missing_field" and ex.field == "from":
                log.error("Biz send without a sender: set MAILPIPE_DEFAULT_FROM")
                return 500, "500", "no sender address is configured"
            return 200, FIELD_CODES.get(ex.field or "", "410"), ex.message
        if isinstance(ex, falcon.MediaMalformedError):
            return 200, "410", f"the form cannot be read: {ex.description}"
        if isinstance(ex, falcon.HTTPError):
            return None  # falcon's routing (405 …): mailpipe's usual answer
        if isinstance(ex, ConfigError):
            log.error("Biz send refused: %s", ex)
            return 500, "500", "the server is not configured for this request"
        if isinstance(ex, BAD_INPUT):
            _code, message = describe_bad_input(ex)
            log.warning("Biz send with bad input past the checks: %s", message)
            return 200, "410", message
        # The Biz contract answers every failure with its own body.
        log.error("Biz send failed", exc_info=ex)
        return 500, "500", ""


ERRORS = BizErrors()


def install(app: falcon.App, deps) -> None:
    """The Biz routes (their errors: ``ERRORS``), and room in the form parser for many files."""
    options = app.req_options.media_handlers[falcon.MEDIA_MULTIPART].parse_options
    options.max_body_part_count = max(options.max_body_part_count, MAX_ATTACHMENTS + 32)
    for path, options in ROUTES.items():
        app.add_route(path, BizSendResource(deps, **options))
