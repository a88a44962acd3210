"""Domain errors to HTTP, in one place: every error body is JSON {code, message}."""

from __future__ import annotations

import logging
import math
from http import HTTPStatus

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
    resp.media = {"code": code, "message": message}


def handle_request_error(req: falcon.Request, resp: falcon.Response, ex: RequestError, params):
    resp.status = falcon.code_to_http_status(ex.status)
    resp.media = ex.to_dict()
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
    resp.media = {"code": code, "message": ex.description or ex.title}
    for name, value in (ex.headers or {}).items():
        resp.set_header(name, value)


def handle_database_down(req: falcon.Request, resp: falcon.Response, ex: OperationalError, params):
    log.error("database unavailable for %s %s: %s", req.method, req.path, ex)
    resp.status = falcon.HTTP_503
    resp.set_header("Retry-After", "5")
    resp.media = {"code": "database_unavailable", "message": "the database is unavailable; retry"}


def handle_redis_down(req: falcon.Request, resp: falcon.Response, ex: RedisError, params):
    """Redis is restarting: a 503 the client may retry, not a bare 500."""
    log.error("redis unavailable for %s %s: %s", req.method, req.path, ex, exc_info=ex)
    resp.status = falcon.HTTP_503
    resp.set_header("Retry-After", "5")
    resp.media = {"code": "queue_unavailable", "message": "the queue is unavailable; retry"}


def install(app: falcon.App) -> None:
    app.add_error_handler(falcon.HTTPError, handle_http_error)
    app.add_error_handler(RequestError, handle_request_error)
    # InterfaceError: a pooled connection the restarted database had closed.
    app.add_error_handler((OperationalError, InterfaceError), handle_database_down)
    app.add_error_handler(RedisError, handle_redis_down)
    app.add_error_handler(BAD_INPUT, handle_bad_input)
