"""API key authentication: the ``x-api-key`` header, looked up by its hash.

Failed authentications are budgeted per client address (``Guards.auth_failures``):
an address past its budget gets 429 before any database lookup. A key found
has its ``last_used_at`` brought up to date when it is over a minute old
(``shared.db.keys.authenticated_key``, as SMTP AUTH does): one write a minute
per busy key, not one per request.
"""

from __future__ import annotations

import falcon
from sqlalchemy import Engine

from services.api.clients import client_address
from services.api.throttle import Guards
from shared.db.keys import ApiKey, authenticated_key
from shared.errors import Unauthorized
from shared.i18n import Text
from shared.rate.intake import note_failure, refuse_if_failing

HEADER = "X-API-KEY"


def authenticate(engine: Engine, guards: Guards, req: falcon.Request, plain: str) -> ApiKey | None:
    """The active key ``plain`` names, or None (charged to the client's failure budget).

    Raises TooManyRequests, without looking the key up, when the client's
    address has failed too often.
    """
    address = client_address(req, guards.trusted_proxies)
    refuse_if_failing(guards.auth_failures, address)
    with engine.connect() as conn:
        key = authenticated_key(conn, plain)
    if key is None:
        note_failure(guards.auth_failures, address)
    return key


class ApiKeyMiddleware:
    """Puts the caller's ``ApiKey`` on ``req.context.api_key``.

    Resources with ``auth = False`` (health, SNS, tracking) are public.
    """

    def __init__(self, engine: Engine, guards: Guards) -> None:
        self.engine = engine
        self.guards = guards

    def process_resource(self, req: falcon.Request, resp, resource, params) -> None:
        if resource is None or not getattr(resource, "auth", True):
            return
        plain = req.get_header(HEADER)
        if not plain:
            raise Unauthorized("missing_api_key", Text(
                "send your API key in the x-api-key header"))
        key = authenticate(self.engine, self.guards, req, plain)
        if key is None:
            raise Unauthorized("invalid_api_key", Text("the API key is unknown or revoked"))
        req.context.api_key = key
