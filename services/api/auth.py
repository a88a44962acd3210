"""API key authentication: the ``x-api-key`` header, looked up by its hash."""

from __future__ import annotations

import falcon
from sqlalchemy import Engine

from shared.db.keys import find_active_key
from shared.errors import Unauthorized

HEADER = "X-API-KEY"


class ApiKeyMiddleware:
    """Puts the caller's ``ApiKey`` on ``req.context.api_key``.

    Resources with ``auth = False`` (health, SNS, tracking) are public.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def process_resource(self, req: falcon.Request, resp, resource, params) -> None:
        if resource is None or not getattr(resource, "auth", True):
            return
        plain = req.get_header(HEADER)
        if not plain:
            raise Unauthorized("missing_api_key", "send your API key in the x-api-key header")
        with self.engine.connect() as conn:
            key = find_active_key(conn, plain)
        if key is None:
            raise Unauthorized("invalid_api_key", "the API key is unknown or revoked")
        req.context.api_key = key
