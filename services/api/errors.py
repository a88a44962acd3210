"""Domain errors to HTTP, in one place: every error body is JSON {code, message, error}.

``error`` repeats ``message`` under the name aws-ses-sender-go answered with
(``{"error": "…"}``), so its clients read mailpipe's errors unchanged.

The compat APIs answer in their own shapes (Biz ``{"code", "message_id"}``,
fureweb ``{"code", "message"}``) and the console in its reader's language
(``services.console.errors``): each is an ``ErrorScope`` that owns its
routes, and every handler installed here hands an error raised on one of
those routes to that scope first. A scope may decline an error (returns
False, e.g. a 405 from falcon's routing), which is then answered as usual.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Container, Sequence
from http import HTTPStatus
from typing import Protocol

import falcon
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, InterfaceError, OperationalError

from shared.errors import RequestError, TooManyRequests

log = logging.getLogger("mailpipe.api")

#: Input the checks let through but that cannot be stored or decoded: text the
#: database cannot hold or a number beyond its column (DataError), text Python
#: cannot encode (UnicodeError). Each is the caller's doing, so a 400, never a 500.
#: The compat routes catch these too and answer in their own shape.
BAD_INPUT = (DataError, UnicodeError)


def describe_bad_input(ex: Exception) -> tuple[str, str]:
    """``(code, message)`` for one of BAD_INPUT; no bound values (they may be addresses)."""
    if isinstance(ex, DataError):
        # psycopg's class names the SQLSTATE (NumericValueOutOfRange, CharacterNotInRepertoire,
        # InvalidTextRepresentation); its message would quote the value.
        return "invalid_value", f"a value cannot be stored: {type(ex.orig).__name__}"
    reason = getattr(ex, "reason", None) or type(ex).__name__  # reason quotes no value
    return "invalid_text", f"the request holds text that cannot be encoded: {reason}"


def handle_bad_input(req: falcon.Request, resp: falcon.Response, ex: Exception, params):
    code, message = describe_bad_input(ex)
    # Logged: each one is a check missing in the schema layer.
    log.warning("bad input past the checks (%s) for %s %s: %s", type(ex).__name__, req.method,
                req.path, message)
    resp.status = falcon.HTTP_400
    resp.media = body(code, message)


def body(code: str, message: str, **extra) -> dict:
    """An error answer: a stable ``code``, what to fix, and the seed's ``error``."""
    return {"code": code, "message": message, "error": message, **extra}


def handle_request_error(req: falcon.Request, resp: falcon.Response, ex: RequestError, params):
    resp.status = falcon.code_to_http_status(ex.status)
    resp.media = {**ex.to_dict(), "error": ex.message}
    if isinstance(ex, TooManyRequests):
        resp.set_header("Retry-After", str(max(1, math.ceil(ex.retry_after))))


def handle_http_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params):
    """falcon's own errors (404 route, 405 method, …) in our JSON shape."""
    resp.status = ex.status
    # From the status phrase, not ex.title: falcon 4 titles read "404 Not Found".
    try:
        code = HTTPStatus(ex.status_code).phrase.lower().replace(" ", "_")
    except ValueError:  # a non-standard status
        code = "error"
    resp.media = body(code, ex.description or ex.title)
    for name, value in (ex.headers or {}).items():
        resp.set_header(name, value)


#: falcon words its parameter errors 'The "hours" parameter is invalid. …' (and "… is required.").
_PARAM_NAME = re.compile(r'The "([^"]+)" parameter')


def handle_param_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPBadRequest,
                       params):
    """``params.int_param`` and falcon's ``req.get_param_as_*``: a 400 naming the parameter."""
    found = _PARAM_NAME.match(ex.description or "")
    code = "missing_parameter" if isinstance(ex, falcon.HTTPMissingParam) else "invalid_parameter"
    resp.status = ex.status
    resp.media = body(code, ex.description or ex.title)
    if found:
        resp.media["field"] = found.group(1)


def handle_database_down(req: falcon.Request, resp: falcon.Response, ex: OperationalError, params):
    log.error("database unavailable for %s %s: %s", req.method, req.path, ex)
    resp.status = falcon.HTTP_503
    resp.set_header("Retry-After", "5")
    resp.media = body("database_unavailable", "the database is unavailable; retry")


def handle_redis_down(req: falcon.Request, resp: falcon.Response, ex: RedisError, params):
    """Redis is restarting: a 503 the client may retry, not a bare 500."""
    log.error("redis unavailable for %s %s: %s", req.method, req.path, ex, exc_info=ex)
    resp.status = falcon.HTTP_503
    resp.set_header("Retry-After", "5")
    resp.media = body("queue_unavailable", "the queue is unavailable; retry")


def handle_unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params):
    """What falcon answers by default: the traceback logged, a bare 500."""
    log.error("unexpected error for %s %s", req.method, req.path, exc_info=ex)
    raise falcon.HTTPInternalServerError()  # falcon composes it (handlers may raise HTTPError)


class ErrorScope(Protocol):
    """A compat API's error answers: the route templates it owns and its answer to an error."""

    routes: Container[str]

    def answer(self, req: falcon.Request, resp: falcon.Response, ex: Exception) -> bool:
        """Set ``resp`` for ``ex`` and return True, or return False to leave it to mailpipe's."""
        ...


Handler = Callable[[falcon.Request, falcon.Response, Exception, dict], None]


def _scoped(handler: Handler, scopes: Sequence[ErrorScope]) -> Handler:
    """``handler``, unless the request's route belongs to a scope that answers the error."""
    def scoped(req: falcon.Request, resp: falcon.Response, ex: Exception, params) -> None:
        for scope in scopes:
            if req.uri_template in scope.routes and scope.answer(req, resp, ex):
                return
        handler(req, resp, ex, params)

    return scoped


def install(app: falcon.App, scopes: Sequence[ErrorScope] = ()) -> None:
    """Every error handler of the app; errors on a scope's routes go to that scope first."""
    handlers: list[tuple[type[Exception] | tuple[type[Exception], ...], Handler]] = [
        (Exception, handle_unexpected),
        (falcon.HTTPError, handle_http_error),
        ((falcon.HTTPInvalidParam, falcon.HTTPMissingParam), handle_param_error),
        (RequestError, handle_request_error),
        # InterfaceError: a pooled connection the restarted database had closed.
        ((OperationalError, InterfaceError), handle_database_down),
        (RedisError, handle_redis_down),
        (BAD_INPUT, handle_bad_input),
    ]
    for errors, handler in handlers:
        app.add_error_handler(errors, _scoped(handler, scopes))
