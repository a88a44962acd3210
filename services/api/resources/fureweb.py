"""The fureweb mailer: ``POST /api/mail`` with ``{isSync, key, from, to[], cc[], title, content}``.

Answers ``{"code", "message"}`` with the HTTP status equal to ``code``:
200 "OK" (with ``isSync``, once the send succeeded, plus ``messageId``),
406 "invalid api key", 403 when ``from`` is outside the key's domains,
400 for a bad field, 500 with the provider's error when a synchronous send
failed (or "server error"), and 202 when a synchronous send has no result
within MAILPIPE_MAX_SYNC_WAIT seconds (it is still sent; ``id`` names it) or
its outcome is unknown (the connection dropped after the message went out).
"""

from __future__ import annotations

import logging
import math
from email.utils import getaddresses

import falcon

from services.api.auth import authenticate
from services.api.media import read_json
from services.api.sync import wait_capped
from services.api.throttle import charge_key
from shared.db.envelopes import SendResult
from shared.errors import (
    Forbidden,
    MailpipeError,
    PayloadTooLarge,
    RequestError,
    TooManyRequests,
)
from shared.intake.addresses import has_line_break, is_valid_address, normalize_mailbox
from shared.intake.envelopes import EnvelopeRequest, accept_envelope

log = logging.getLogger("mailpipe.api.fureweb")

TOPIC = "fureweb"


class FurewebError(MailpipeError):
    """Raised when a fureweb request is refused; ``code`` is also the HTTP status."""

    def __init__(self, code: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _addresses(value, name: str, *, required: bool) -> tuple[str, ...]:
    if value is None or value == []:
        if required:
            raise FurewebError(400, f"invalid parameter: {name} is required")
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise FurewebError(400, f"invalid parameter: {name} must be a list of addresses")
    cleaned = [_one_address(item) for item in items]
    for address in cleaned:
        if not is_valid_address(address):
            raise FurewebError(400, f"invalid parameter: {name}: {address[:100]!r} is not an "
                               "email address")
    if required and not cleaned:
        raise FurewebError(400, f"invalid parameter: {name} is required")
    return tuple(cleaned)


def _one_address(item: str) -> str:
    """"a@b", "<a@b>" or nodemailer's "Name <a@b>" (the name is not kept); else as given."""
    found = getaddresses([item]) if not has_line_break(item) else []
    return found[0][1] if len(found) == 1 else item


def _text(body: dict, name: str, *, header: bool) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or "\x00" in value or (
        header and has_line_break(value)
    ):
        raise FurewebError(400, f"invalid parameter: {name}")
    return value


def parse(body) -> tuple[str, EnvelopeRequest, bool]:
    """(API key, the message, isSync) or FurewebError."""
    if not isinstance(body, dict):
        raise FurewebError(400, "invalid parameter: the body must be a JSON object")
    key = body.get("key")
    if not isinstance(key, str) or not key:
        raise FurewebError(406, "invalid api key")
    sender = normalize_mailbox(body["from"]) if isinstance(body.get("from"), str) else None
    if sender is None:
        raise FurewebError(400, "invalid parameter: from")
    is_sync = body.get("isSync", False)
    if not isinstance(is_sync, bool):
        raise FurewebError(400, "invalid parameter: isSync must be true or false")
    request = EnvelopeRequest(
        topic_id=TOPIC, from_addr=sender,
        to=_addresses(body.get("to"), "to", required=True),
        cc=_addresses(body.get("cc"), "cc", required=False),
        subject=_text(body, "title", header=True), html=_text(body, "content", header=False),
        text=None,
    )
    return key, request, is_sync


class FurewebMailResource:
    auth = False  # the key travels in the body

    def __init__(self, deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self._serve(req, resp)
        except FurewebError:
            raise
        except Exception:
            # fureweb clients read a numeric code in every answer.
            log.exception("fureweb send failed")
            raise FurewebError(500, "server error") from None

    def _serve(self, req: falcon.Request, resp: falcon.Response) -> None:
        deps = self.deps
        try:
            plain, request, is_sync = parse(read_json(req, deps.settings.max_body_bytes))
        except PayloadTooLarge as exc:
            raise FurewebError(413, exc.message) from None
        except RequestError as exc:
            raise FurewebError(400, exc.message) from None
        try:
            key = authenticate(deps.engine, deps.guards, req, plain)
            if key is None:
                raise FurewebError(406, "invalid api key")
            charge_key(deps.guards.intake, key)
        except TooManyRequests as exc:
            raise FurewebError(429, exc.message, retry_after=exc.retry_after) from None
        try:
            accepted = accept_envelope(deps.engine, deps.broker, key, request, deps.settings)
        except Forbidden as exc:
            raise FurewebError(403, exc.message) from None
        except PayloadTooLarge as exc:
            raise FurewebError(413, exc.message) from None
        except RequestError as exc:
            raise FurewebError(400, exc.message) from None
        if not is_sync:
            resp.media = {"code": 200, "message": "OK"}
            return
        done, results = wait_capped(deps, key.id, [accepted.id], deps.settings.max_sync_wait)
        code, body = _sync_answer(done, results[accepted.id])
        resp.status = falcon.code_to_http_status(code)
        resp.media = {"code": code, "id": accepted.id, **body}


def _sync_answer(done: bool, result: SendResult) -> tuple[int, dict]:
    """200 sent, 500 not sent (with the provider's error), 202 still sending or unknown."""
    if not done:
        return 202, {"message": "accepted; the send result is not known yet"}
    if result.state == "unknown":
        return 202, {"message": f"the send's outcome is unknown (it may have been "
                                f"delivered): {result.error}"}
    if result.state in ("failed", "cancelled", "suppressed"):
        return 500, {"message": result.error or f"not sent: {result.state}"}
    return 200, {"message": "OK", "messageId": result.provider_message_id}


def handle_fureweb_error(req, resp: falcon.Response, ex: FurewebError, params) -> None:
    resp.status = falcon.code_to_http_status(ex.code)
    resp.media = {"code": ex.code, "message": ex.message}
    if ex.retry_after is not None:
        resp.set_header("Retry-After", str(max(1, math.ceil(ex.retry_after))))


def install(app: falcon.App, deps) -> None:
    app.add_error_handler(FurewebError, handle_fureweb_error)
    resource = FurewebMailResource(deps)
    app.add_route("/api/mail", resource)
    app.add_route("/mail", resource)  # the path the post's protocol section names
