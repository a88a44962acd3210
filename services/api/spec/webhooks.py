"""The OpenAPI 3.1 ``webhooks`` section: every outbound event type, with an example.

Each entry is what mailpipe POSTs to an endpoint subscribed to that type: the
envelope (``shared.webhooks.envelope``) with the ``data`` the outbox writes
(``shared.db.outbox``), signed with the Standard Webhooks headers. The
examples are the catalogue's (``shared.webhooks.catalogue``, checked against
the writers) in the envelope function deliveries use, so they cannot drift
from what is sent.
"""

from __future__ import annotations

from services.api.resources.webhooks import MAX_DELIVERIES, REPLAY_LIMIT
from services.api.schemas.webhooks import ReplayBody, WebhookBody, WebhookChange
from services.api.spec import answers as a
from services.api.spec.native import READ_BODY, VALIDATION
from services.api.spec.operation import Body, Operation, Reply, after, integer, query, text
from shared.webhooks.catalogue import CATALOGUE, EXAMPLE_AT
from shared.webhooks.envelope import envelope
from shared.webhooks.events import DeliveryState
from shared.webhooks.events import OutboundEventType as T

_HEADERS = {
    "webhook-id": "the event's id, ``evt_<n>``: the same on every retry and replay "
                  "(deduplicate by it)",
    "webhook-timestamp": "when this attempt was signed, Unix seconds",
    "webhook-signature": "``v1,<base64 HMAC-SHA256 of id.timestamp.body>``; two, "
                         "space-separated, for a day after a rotation",
}

DESCRIPTION = (
    "Signed per the Standard Webhooks specification: verify with any of its libraries "
    "(``standardwebhooks`` on PyPI and npm) and the endpoint's ``whsec_`` secret. Answer "
    "2xx within 15 s; anything else is retried (about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, "
    "10 h, 14 h, 20 h, honouring Retry-After), 410 disables the endpoint. At least once: "
    "deduplicate by ``webhook-id``; ``timestamp`` orders events.")


def webhooks_section() -> dict:
    """OpenAPI 3.1's top-level ``webhooks``: one POST per event type."""
    section = {}
    for type_, entry in CATALOGUE.items():
        section[str(type_)] = {"post": {
            "summary": str(type_),
            "description": f"{entry.when}\n\n{DESCRIPTION}",
            "tags": ["webhooks"],
            "operationId": f"webhook_{type_.replace('.', '_')}",
            "parameters": [{"name": name, "in": "header", "required": True,
                            "schema": {"type": "string"}, "description": text}
                           for name, text in _HEADERS.items()],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/WebhookEnvelope"},
                "example": envelope(type_, EXAMPLE_AT, entry.data)}}},
            "responses": {"2XX": {"description": "received; any other answer is retried"},
                          "410": {"description": "gone: the endpoint is disabled"}},
        }}
    return section


ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["type", "timestamp", "version", "data"],
    "properties": {
        "type": {"type": "string", "enum": [str(t) for t in T]},
        "timestamp": {"type": "string", "format": "date-time",
                      "description": "when it happened (UTC)"},
        "version": {"type": "integer", "const": 1},
        "data": {"type": "object", "description": "the event's facts (see each type)"},
    },
}


# -- the /v1/webhooks operations ------------------------------------------------------

TIME = "2030-06-01T09:00:00+00:00"
_WEBHOOK = {"id": 5, "url": "https://hooks.example.com/mailpipe",
            "eventTypes": ["message.delivered", "message.bounced"], "topics": [],
            "enabled": True, "disabledReason": None, "failingSince": None,
            "previousSecretValidUntil": None, "createdAt": TIME, "updatedAt": TIME}
_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
_DELIVERY = {"id": 91, "eventId": "evt_1042", "type": "message.delivered", "occurredAt": TIME,
             "state": "pending", "attempts": 2, "lastStatus": 503, "lastResponse": "busy",
             "lastError": "answered 503", "nextAttemptAt": TIME, "deliveredAt": None,
             "createdAt": TIME}
_URL_ERRORS = ("invalid_url", "webhook_url_not_https", "webhook_url_private",
               "unknown_event_type")
_NOT_FOUND = {404: ("webhook_not_found",)}


_ONE = "/v1/webhooks/{webhook_id}"

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/v1/webhooks", "post"): Operation(
        "Register a webhook endpoint", "webhooks",
        (Reply(201, "registered; ``secret`` is shown this once", a.WebhookWithSecret,
               example={**_WEBHOOK, "secret": _SECRET}, headers=("Location",)),),
        description="``url`` must be https (http only where the operator allows it) and "
        "not private, loopback or link-local. No ``eventTypes``: every type; no "
        "``topics``: every topic.",
        bodies=(Body({"url": _WEBHOOK["url"], "eventTypes": _WEBHOOK["eventTypes"]},
                     WebhookBody),),
        errors={**READ_BODY, 400: (*VALIDATION, *_URL_ERRORS),
                409: ("too_many_webhooks",), 503: ("webhooks_unavailable",)}),
    ("/v1/webhooks", "get"): Operation(
        "The key's webhook endpoints", "webhooks",
        (Reply(200, "a page", a.Webhooks, example={"webhooks": [_WEBHOOK], "next": None}),),
        params=(after(),), errors={400: ("invalid_parameter",)}),
    (_ONE, "get"): Operation(
        "A webhook endpoint (why it is disabled, if it is)", "webhooks",
        (Reply(200, "the endpoint", a.Webhook, example=_WEBHOOK),), errors=_NOT_FOUND),
    (_ONE, "patch"): Operation(
        "Change an endpoint (what is given is replaced)", "webhooks",
        (Reply(200, "the endpoint", a.Webhook, example=_WEBHOOK),),
        description="``enabled: true`` enables it again (clearing why it was disabled): "
        "its pending deliveries go out.",
        bodies=(Body({"enabled": True}, WebhookChange),),
        errors={**READ_BODY, 400: (*VALIDATION, *_URL_ERRORS, "null_field"), **_NOT_FOUND}),
    (_ONE, "delete"): Operation("Delete an endpoint and its deliveries", "webhooks",
                               (Reply(204, "deleted"),), errors=_NOT_FOUND),
    (f"{_ONE}/rotate", "post"): Operation(
        "A new signing secret (the old one signs too for 24 hours)", "webhooks",
        (Reply(200, "the endpoint with its new ``secret``, shown this once",
               a.WebhookWithSecret, example={**_WEBHOOK, "secret": _SECRET,
                                             "previousSecretValidUntil": TIME}),),
        errors={**_NOT_FOUND, 503: ("webhooks_unavailable",)}),
    (f"{_ONE}/deliveries", "get"): Operation(
        "The endpoint's deliveries, newest first", "webhooks",
        (Reply(200, "a page", a.WebhookDeliveries,
               example={"deliveries": [_DELIVERY], "next": None}),),
        params=(query("before", integer(1), "the id below which the page starts"),
                query("limit", integer(1, MAX_DELIVERIES, 50), "deliveries per page"),
                query("state", text(enum=[s.value for s in DeliveryState]),
                      "only deliveries in this state")),
        errors={400: ("invalid_parameter",), **_NOT_FOUND}),
    (f"{_ONE}/deliveries/{{delivery_id}}/retry", "post"): Operation(
        "Deliver again now, with a fresh schedule", "webhooks",
        (Reply(200, "the delivery, due now", a.WebhookDelivery, example=_DELIVERY),),
        errors={404: ("webhook_not_found", "delivery_not_found"),
                409: ("delivery_in_flight",)}),
    (f"{_ONE}/replay", "post"): Operation(
        "Deliver the key's stored events of a time range again", "webhooks",
        (Reply(202, "queued", a.WebhookReplayed, example={"replayed": 120}),),
        description="The events in [from, to) this endpoint subscribes to (of "
        "``eventTypes`` only, and only those whose delivery to it is in one of "
        f"``states``, when given), at most {REPLAY_LIMIT:,} per call; each keeps its "
        "``webhook-id``. Events are stored while the key has an enabled endpoint.",
        bodies=(Body({"from": "2030-06-01T00:00:00Z", "to": "2030-06-02T00:00:00Z",
                      "states": ["failed"]}, ReplayBody),),
        errors={**READ_BODY, 400: (*VALIDATION, "unknown_event_type", "unknown_state",
                                   "invalid_range", "replay_too_large"), **_NOT_FOUND}),
    (f"{_ONE}/test", "post"): Operation(
        "Send a webhook.test event to this endpoint", "webhooks",
        (Reply(202, "queued", a.WebhookTestQueued,
               example={"deliveryId": 92, "eventId": "evt_1043"}),),
        errors=_NOT_FOUND),
}
