"""Path and query values of the native API: integer bounds, and values that cannot be stored.

Query strings are read with falcon's ``req.get_param_as_int(name, min_value=,
max_value=, default=)``: a value that is no integer or out of bounds is a 400
naming the parameter (``services.api.errors`` gives it mailpipe's JSON shape),
never a database error.

falcon decodes ``%00`` into a NUL in a path segment (``/v1/topics/a%00b``)
or a query value (``?after=%00``); PostgreSQL text cannot hold one, so it
would fail the query as a server error: ``TextParamsMiddleware`` refuses it
before routing. (Undecodable bytes such as ``%ED%A0%80`` already come out as
U+FFFD, never as a lone surrogate.) Only ``/v1/`` paths: the compat routes
read no query and answer errors in their own shapes.
"""

from __future__ import annotations

import falcon

from shared.errors import InvalidRequest
from shared.intake.text import text_problem

#: PostgreSQL BIGINT, the type of every row id: a larger id names no row.
MAX_ID = 2**63 - 1
#: PostgreSQL INTEGER, the type of a template's version number.
MAX_VERSION = 2**31 - 1
#: A route field holding a row id (``/v1/templates/{template_id:ID_FIELD}``).
ID_FIELD = f"int(min=1, max={MAX_ID})"


class TextParamsMiddleware:
    """400 naming the path or the query parameter that holds a NUL."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.path.startswith("/v1/"):
            return
        problem = text_problem(req.path)
        if problem:
            raise InvalidRequest("invalid_character", f"path: {problem}", field="path")
        for name, value in req.params.items():
            for one in value if isinstance(value, list) else [value]:
                problem = text_problem(name) or text_problem(one)
                if problem:
                    shown = name[:80].encode("unicode_escape").decode("ascii")
                    raise InvalidRequest("invalid_character", f"{shown}: {problem}",
                                         field=shown)
