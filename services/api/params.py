"""Path and query values of the native API, refused before routing when they cannot be stored.

falcon decodes ``%00`` into a NUL in a path segment (``/v1/topics/a%00b``)
or a query value (``?after=%00``); PostgreSQL text cannot hold one, so it
would fail the query as a server error. (Undecodable bytes such as
``%ED%A0%80`` already come out as U+FFFD, never as a lone surrogate.)

Only ``/v1/`` paths: the compat routes read no query and answer errors in
their own shapes.
"""

from __future__ import annotations

import falcon

from shared.errors import InvalidRequest
from shared.intake.text import text_problem


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
