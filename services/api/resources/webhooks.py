"""``/v1/webhooks``: a key's endpoints, their deliveries, retry, replay, test (issue 28).

A key sees and manages only its own endpoints: another key's is "not there"
(404). The signing secret is in the answers that make one (creation,
rotation) and in no other. Deliveries are made by the ``mailpipe webhooks``
workers, woken by the scheduler within a second of a row being due.
"""

from __future__ import annotations

from datetime import timedelta

import falcon

from services.api.media import read_json
from services.api.params import MAX_ID, int_param
from services.api.schemas.messages import parse
from services.api.schemas.webhooks import ReplayBody, WebhookBody, WebhookChange
from services.api.views.webhooks import delivery_view, endpoint_view
from shared.db.webhook_deliveries import (
    delivery_exists,
    list_deliveries,
    replay,
    retry_delivery,
    webhook_test_delivery,
)
from shared.db.webhooks import (
    MAX_ENDPOINTS,
    EndpointRow,
    change_endpoint,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_endpoints,
    rotate_secret,
)
from shared.errors import ConfigError, Conflict, InvalidRequest, NotFound, Unavailable
from shared.i18n import Text
from shared.secrets import SecretBox
from shared.webhooks.events import DeliveryState
from shared.webhooks.signing import new_secret, webhook_box
from shared.webhooks.signing import webhook_id as event_webhook_id
from shared.webhooks.urls import policy_problem

#: Endpoints per page of ``GET /v1/webhooks``; deliveries per page at most.
PAGE = 100
MAX_DELIVERIES = 100
#: Events one replay may queue; a longer range is refused (nothing queued), to be split.
REPLAY_LIMIT = 100_000
#: How long a rotated-out secret keeps signing.
ROTATION_OVERLAP = timedelta(hours=24)


def _not_found(endpoint_id: int) -> NotFound:
    return NotFound("webhook_not_found", Text("no webhook %(id)s for this API key",
                                              id=endpoint_id))


class _Webhooks:
    def __init__(self, deps) -> None:
        self.deps = deps

    def _box(self) -> SecretBox:
        try:
            return webhook_box(self.deps.settings.secret_key)
        except ConfigError:
            raise Unavailable("webhooks_unavailable", Text(
                "webhooks need MAILPIPE_SECRET_KEY on the server (signing secrets are stored "
                "encrypted with it)")) from None

    def _check_url(self, url: str) -> None:
        settings = self.deps.settings
        found = policy_problem(url, allow_http=settings.webhook_allow_http,
                               allow_private=settings.webhook_private)
        if found is not None:
            code, reason = found
            raise InvalidRequest(code, Text("url: %(problem)s", problem=reason), field="url")

    def _endpoint(self, req: falcon.Request, endpoint_id: int) -> EndpointRow:
        with self.deps.engine.connect() as conn:
            row = get_endpoint(conn, req.context.api_key.id, endpoint_id)
        if row is None:
            raise _not_found(endpoint_id)
        return row


class WebhooksResource(_Webhooks):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(WebhookBody, read_json(req, self.deps.settings.max_body_bytes))
        self._check_url(body.url)
        secret = new_secret()
        encrypted = self._box().encrypt(secret)
        with self.deps.engine.begin() as conn:
            row = create_endpoint(conn, req.context.api_key.id, url=body.url,
                                  event_types=body.event_types, topics=body.topics,
                                  enabled=body.enabled, secret=encrypted)
        if row is None:
            raise Conflict("too_many_webhooks", Text(
                "this API key has %(max)s webhooks already; delete one first",
                max=MAX_ENDPOINTS))
        resp.status = falcon.HTTP_201
        resp.location = f"/v1/webhooks/{row.id}"
        resp.media = endpoint_view(row, secret=secret)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        after = int_param(req, "after", min_value=0, max_value=MAX_ID, default=0)
        with self.deps.engine.connect() as conn:
            rows = list_endpoints(conn, req.context.api_key.id, after=after, limit=PAGE)
        resp.media = {"webhooks": [endpoint_view(r) for r in rows],
                      "next": f"/v1/webhooks?after={rows[-1].id}" if len(rows) == PAGE
                      else None}


class WebhookResource(_Webhooks):
    def on_get(self, req: falcon.Request, resp: falcon.Response, webhook_id: int) -> None:
        resp.media = endpoint_view(self._endpoint(req, webhook_id))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, webhook_id: int) -> None:
        body = parse(WebhookChange, read_json(req, self.deps.settings.max_body_bytes))
        if body.url is not None:
            self._check_url(body.url)
        with self.deps.engine.begin() as conn:
            row = change_endpoint(conn, req.context.api_key.id, webhook_id, url=body.url,
                                  event_types=body.event_types, topics=body.topics,
                                  enabled=body.enabled)
        if row is None:
            raise _not_found(webhook_id)
        resp.media = endpoint_view(row)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, webhook_id: int) -> None:
        with self.deps.engine.begin() as conn:
            if not delete_endpoint(conn, req.context.api_key.id, webhook_id):
                raise _not_found(webhook_id)
        resp.status = falcon.HTTP_204


class WebhookRotateResource(_Webhooks):
    """A new secret, shown once; the old one keeps signing for ROTATION_OVERLAP."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, webhook_id: int) -> None:
        secret = new_secret()
        encrypted = self._box().encrypt(secret)
        with self.deps.engine.begin() as conn:
            row = rotate_secret(conn, req.context.api_key.id, webhook_id, secret=encrypted,
                                overlap=ROTATION_OVERLAP)
        if row is None:
            raise _not_found(webhook_id)
        resp.media = endpoint_view(row, secret=secret)


class WebhookDeliveriesResource(_Webhooks):
    def on_get(self, req: falcon.Request, resp: falcon.Response, webhook_id: int) -> None:
        before = int_param(req, "before", min_value=1, max_value=MAX_ID, default=MAX_ID)
        limit = int_param(req, "limit", min_value=1, max_value=MAX_DELIVERIES, default=50)
        state = req.get_param("state")
        if state is not None and state not in DeliveryState._value2member_map_:
            raise falcon.HTTPInvalidParam(f"one of {', '.join(DeliveryState)}", "state")
        self._endpoint(req, webhook_id)
        with self.deps.engine.connect() as conn:
            rows = list_deliveries(conn, webhook_id, before=before, limit=limit, state=state)
        more = f"&state={state}" if state else ""
        resp.media = {
            "deliveries": [delivery_view(r) for r in rows],
            "next": (f"/v1/webhooks/{webhook_id}/deliveries?before={rows[-1].id}&limit={limit}"
                     f"{more}") if len(rows) == limit else None,
        }


class WebhookDeliveryRetryResource(_Webhooks):
    def on_post(self, req: falcon.Request, resp: falcon.Response, webhook_id: int,
                delivery_id: int) -> None:
        self._endpoint(req, webhook_id)
        with self.deps.engine.begin() as conn:
            row = retry_delivery(conn, webhook_id, delivery_id)
            if row is None and delivery_exists(conn, webhook_id, delivery_id):
                raise Conflict("delivery_in_flight", Text(
                    "delivery %(id)s is being delivered right now", id=delivery_id))
        if row is None:
            raise NotFound("delivery_not_found", Text(
                "no delivery %(id)s of webhook %(webhook)s", id=delivery_id,
                webhook=webhook_id))
        resp.media = delivery_view(row)


class WebhookReplayResource(_Webhooks):
    def on_post(self, req: falcon.Request, resp: falcon.Response, webhook_id: int) -> None:
        body = parse(ReplayBody, read_json(req, self.deps.settings.max_body_bytes))
        self._endpoint(req, webhook_id)
        with self.deps.engine.begin() as conn:
            count = replay(conn, webhook_id, start=body.start, end=body.end,
                           types=body.event_types, states=body.states, limit=REPLAY_LIMIT + 1)
            if count > REPLAY_LIMIT:  # raised inside: the transaction is rolled back
                raise InvalidRequest("replay_too_large", Text(
                    "more than %(max)s events in this range: replay a shorter one",
                    max=REPLAY_LIMIT))
        resp.status = falcon.HTTP_202
        resp.media = {"replayed": count}


class WebhookTestResource(_Webhooks):
    def on_post(self, req: falcon.Request, resp: falcon.Response, webhook_id: int) -> None:
        self._endpoint(req, webhook_id)
        with self.deps.engine.begin() as conn:
            delivery_id, event_id = webhook_test_delivery(
                conn, req.context.api_key.id, webhook_id,
                {"webhookId": webhook_id, "message": "a test event sent on request"})
        resp.status = falcon.HTTP_202
        resp.media = {"deliveryId": delivery_id, "eventId": event_webhook_id(event_id)}
