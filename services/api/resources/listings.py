"""Listing a topic's or a campaign's messages: ``GET /v1/messages?topicId=`` and
``GET /v1/campaigns/{id}/messages``, as JSON pages or one CSV export.

Filters (all optional, combined with AND): ``state`` (comma-separated),
``opened``, ``clicked``, ``bounced`` (true/false; opens and clicks count
people, not prefetchers and scanners), ``email``. JSON pages hold ``limit``
rows (100, at most 1000) and a ``next`` link; ``format=csv`` (or
``Accept: text/csv``) streams every matching row, in UTF-8 with a BOM (what
Excel opens) or, with ``charset=cp949``, in CP949 (what Korean Excel writes).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from urllib.parse import urlencode

import falcon

from services.api.params import MAX_ID, int_param
from shared.db.campaigns import get_campaign
from shared.db.listings import MessageFilter, all_messages, list_messages
from shared.errors import InvalidRequest, NotFound
from shared.i18n import Text
from shared.intake.addresses import is_valid_address
from shared.intake.csvtext import csv_bytes, export_charset, export_content_type
from shared.states import MessageState

MAX_LIMIT = 1000
CSV_COLUMNS = ("id", "email", "status", "statusCode", "topicId", "campaignId", "opens",
               "clicks", "delivered", "bounced", "complained", "sentAt",
               "providerMessageId", "error", "name")


def message_filter(req: falcon.Request, **scope) -> MessageFilter:
    states = frozenset()
    if raw := req.get_param("state"):
        try:
            states = frozenset(MessageState(s.strip()) for s in raw.split(",") if s.strip())
        except ValueError:
            raise InvalidRequest("invalid_state", Text(
                "state: use one or more of %(states)s", states=", ".join(MessageState)),
                field="state") from None
    email = req.get_param("email")
    if email is not None and not is_valid_address(email):
        raise InvalidRequest("invalid_email", Text("email: not an email address"),
                             field="email")
    return MessageFilter(states=states, address=email,
                         opened=req.get_param_as_bool("opened"),
                         clicked=req.get_param_as_bool("clicked"),
                         bounced=req.get_param_as_bool("bounced"), **scope)


def row_view(row: dict) -> dict:
    state = MessageState(row["state"])
    return {
        "id": row["id"], "email": row["to_addr"], "status": state.value,
        "statusCode": state.code, "topicId": row["topic_id"], "campaignId": row["campaign_id"],
        "opens": row["opens"], "clicks": row["clicks"], "delivered": row["delivered"],
        "bounced": row["bounced"], "complained": row["complained"],
        "sentAt": row["sent_at"].isoformat() if row["sent_at"] else None,
        "providerMessageId": row["provider_message_id"], "error": row["error"],
        # The display name ``email`` was given with (last in the CSV: columns only grow).
        "name": row["to_name"],
    }


def answer_listing(deps, req: falcon.Request, resp: falcon.Response, where: MessageFilter,
                   filename: str) -> None:
    key_id = req.context.api_key.id
    # Checked for a CSV export too, which reads neither: a bad value is a mistake either way.
    after = int_param(req, "after", min_value=0, max_value=MAX_ID, default=0)
    limit = int_param(req, "limit", min_value=1, max_value=MAX_LIMIT, default=100)
    if req.get_param("format") == "csv" or (
            req.get_param("format") is None and req.client_prefers(["application/json",
                                                                    "text/csv"]) == "text/csv"):
        charset = export_charset(req.get_param("charset"))
        resp.content_type = export_content_type(charset)
        resp.downloadable_as = filename
        resp.stream = _csv((row_view(r) for r in all_messages(deps.engine.connect, key_id,
                                                              where)), charset)
        return
    with deps.engine.connect() as conn:
        rows = list_messages(conn, key_id, where, after=after, limit=limit)
    following = None
    if len(rows) == limit:
        params = {k: v for k, v in req.params.items() if k != "after"}
        following = f"{req.path}?{urlencode({**params, 'after': rows[-1]['id']})}"
    resp.media = {"messages": [row_view(r) for r in rows], "count": len(rows),
                  "next": following}


def _csv(rows: Iterable[dict], charset: str) -> Iterable[bytes]:
    yield from csv_bytes(chain([CSV_COLUMNS], ([row[name] for name in CSV_COLUMNS]
                                               for row in rows)), charset)


class CampaignMessagesResource:
    """``GET /v1/campaigns/{id}/messages``: the campaign's recipients as messages."""

    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, campaign_id: int) -> None:
        with self.deps.engine.connect() as conn:
            if get_campaign(conn, req.context.api_key.id, campaign_id) is None:
                raise NotFound("campaign_not_found", Text(
                    "no campaign %(id)s for this API key", id=campaign_id))
        answer_listing(self.deps, req, resp, message_filter(req, campaign_id=campaign_id),
                       f"campaign-{campaign_id}-messages.csv")
