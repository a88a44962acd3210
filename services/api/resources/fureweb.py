"""The fureweb mailer: ``POST /api/mail`` with ``{isSync, key, from, to[], cc[], title, content}``.

Answers ``{"code", "message"}`` with the HTTP status equal to ``code``:
200 "OK" (with ``isSync``, once the send succeeded, plus ``messageId``),
406 "invalid api key", 403 when ``from`` is outside the key's domains,
400 for a bad field, 500 with the provider's error when a synchronous send
failed (or "server error"), and 202 when a synchronous send has no result
within MAILPIPE_MAX_SYNC_WAIT seconds (it is still sent; ``id`` names it) or
its outcome is unknown (the connection dropped after the message went out).

Its callers are web pages on the key's domains: ``OPTIONS`` answers the
browser's preflight, and a POST from another origin is refused with 403
(``services.api.cors``).
"""

from __future__ import annotations

import logging
import math

import falcon

from services.api import cors
from services.api.auth import authenticate
from services.api.errors import BAD_INPUT, describe_bad_input
from services.api.media import read_json
from services.api.schemas.fureweb import fureweb_mail
from services.api.sync import wait_capped
from services.api.throttle import charge_key
from shared.db.envelopes import SendResult
from shared.errors import Forbidden, PayloadTooLarge, RequestError, TooManyRequests, Unauthorized
from shared.i18n import Text
from shared.intake.envelopes import accept_envelope
from shared.states import MessageState as S

log = logging.getLogger("mailpipe.api.fureweb")

#: The path of the post, and the one its protocol section names.
ROUTES = ("/api/mail", "/mail")


class FurewebMailResource:
    """``POST /api/mail``; every error is answered by ``FurewebErrors``."""

    auth = False  # the key travels in the body

    def __init__(self, deps) -> None:
        self.deps = deps

    def on_options(self, req: falcon.Request, resp: falcon.Response) -> None:
        """A browser's CORS preflight (no body, so no key: see ``cors.preflight``)."""
        cors.preflight(self.deps, req, resp)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        deps = self.deps
        cors.readable_by_origin(deps, req, resp)
        data = read_json(req, deps.settings.max_body_bytes)
        # The key first, as fureweb did: a bad key is 406 whatever else is wrong.
        plain = data.get("key") if isinstance(data, dict) else None
        key = None
        if isinstance(plain, str) and plain:
            key = authenticate(deps.engine, deps.guards, req, plain)
        if key is None:
            raise Unauthorized("invalid_api_key", Text("invalid api key"))
        if (origin := cors.origin_refused(req, resp, key)) is not None:
            raise Forbidden("origin_not_allowed", Text(
                "origin %(origin)s is not on the key's domains (%(domains)s)", origin=origin,
                domains=", ".join(key.allowed_domains) or "none"))
        charge_key(deps.guards.intake, key)
        mail = fureweb_mail(data)
        accepted = accept_envelope(deps.engine, deps.broker, key, mail.envelope(), deps.settings)
        if not mail.is_sync:
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
    if result.state == S.UNKNOWN:
        return 202, {"message": f"the send's outcome is unknown (it may have been "
                                f"delivered): {result.error}"}
    if result.state in (S.FAILED, S.CANCELLED, S.SUPPRESSED):
        return 500, {"message": result.error or f"not sent: {result.state}"}
    return 200, {"message": "OK", "messageId": result.provider_message_id}


class FurewebErrors:
    """Every error on a fureweb route as ``{"code", "message"}``, the HTTP status = ``code``:
    406 "invalid api key", 429 over the key's request rate (with Retry-After), 403 a
    sender outside the key's domains, 413 too large, 400 any other bad request, 500
    "server error" for the unexpected."""

    routes = frozenset(ROUTES)

    def answer(self, req: falcon.Request, resp: falcon.Response, ex: Exception) -> bool:
        if isinstance(ex, falcon.HTTPError):
            return False  # falcon's routing (405 …): mailpipe's usual answer
        retry_after = None
        if isinstance(ex, Unauthorized):
            code, message = 406, "invalid api key"
        elif isinstance(ex, TooManyRequests):
            code, message, retry_after = 429, ex.message, ex.retry_after
        elif isinstance(ex, Forbidden):
            code, message = 403, ex.message
        elif isinstance(ex, PayloadTooLarge):
            code, message = 413, ex.message
        elif isinstance(ex, RequestError):
            code, message = 400, ex.message
        elif isinstance(ex, BAD_INPUT):
            _code, detail = describe_bad_input(ex)
            log.warning("fureweb send with bad input past the checks: %s", detail)
            code, message = 400, f"invalid parameter: {detail}"
        else:
            # fureweb clients read a numeric code in every answer.
            log.error("fureweb send failed", exc_info=ex)
            code, message = 500, "server error"
        resp.status = falcon.code_to_http_status(code)
        resp.media = {"code": code, "message": message}
        if retry_after is not None:
            resp.set_header("Retry-After", str(max(1, math.ceil(retry_after))))
        return True


ERRORS = FurewebErrors()


def install(app: falcon.App, deps) -> None:
    """The fureweb routes (their errors: ``ERRORS``)."""
    resource = FurewebMailResource(deps)
    for path in ROUTES:
        app.add_route(path, resource)
