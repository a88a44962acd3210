"""``/v1/suppressions``: the key's list of addresses it must not send to.

Additions and removals are recorded in the audit log as the calling key's
(``shared.db.suppressions``), in the transaction that makes them.
"""

from __future__ import annotations

import falcon

from services.api.clients import client_address
from services.api.media import read_json
from services.api.params import int_param
from services.api.schemas.messages import SuppressRequest, parse
from shared.db.audit import Actor
from shared.db.suppressions import (
    Suppression,
    add_suppressions,
    list_suppressions,
    remove_suppression,
)
from shared.errors import NotFound
from shared.i18n import Text

MAX_LIMIT = 1000


def _actor(req: falcon.Request, deps) -> Actor:
    """The calling key, as the audit log names it (additions and removals are recorded)."""
    key = req.context.api_key
    return Actor.api_key(key.id, key.name, client_address(req, deps.guards.trusted_proxies))


def _view(entry: Suppression) -> dict:
    return {"email": entry.address, "reason": entry.reason, "messageId": entry.message_id,
            "createdAt": entry.created_at.isoformat()}


class SuppressionsResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List in address order; ``next`` is the ``after`` for the following page."""
        limit = int_param(req, "limit", min_value=1, max_value=MAX_LIMIT, default=100)
        with self.deps.engine.connect() as conn:
            entries = list_suppressions(conn, req.context.api_key.id, limit=limit,
                                        after=req.get_param("after"),
                                        address=req.get_param("email"))
        resp.media = {
            "suppressions": [_view(e) for e in entries],
            "next": entries[-1].address if len(entries) == limit else None,
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(SuppressRequest, read_json(req, self.deps.settings.max_body_bytes))
        with self.deps.engine.begin() as conn:
            added = add_suppressions(conn, req.context.api_key.id, body.emails, "manual",
                                     actor=_actor(req, self.deps))
        already = sorted({e.lower() for e in body.emails} - set(added))
        resp.media = {"added": added, "alreadySuppressed": already}


class SuppressionResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, email: str) -> None:
        with self.deps.engine.connect() as conn:
            entries = list_suppressions(conn, req.context.api_key.id, limit=1, address=email)
        if not entries:
            raise NotFound("not_suppressed", Text(
                "%(email)s is not on this key's suppression list", email=email))
        resp.media = _view(entries[0])

    def on_delete(self, req: falcon.Request, resp: falcon.Response, email: str) -> None:
        with self.deps.engine.begin() as conn:
            removed = remove_suppression(conn, req.context.api_key.id, email,
                                         actor=_actor(req, self.deps))
        if not removed:
            raise NotFound("not_suppressed", Text(
                "%(email)s is not on this key's suppression list", email=email))
        resp.status = falcon.HTTP_204
