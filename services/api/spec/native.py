"""The native API's operations (``/v1/...``, ``/``, ``/health``), keyed by (OpenAPI path, method).

Request bodies are the pydantic models that validate them; query parameters
are the ones each resource reads (integers with ``params.int_param``), with the same
bounds (the constants are imported from the resources).
"""

from __future__ import annotations

from services.api.params import MAX_VERSION
from services.api.resources.listings import MAX_LIMIT
from services.api.resources.sent_counts import MAX_HOURS
from services.api.resources.suppressions import MAX_LIMIT as SUPPRESSIONS_LIMIT
from services.api.schemas.campaigns import CampaignBody, RenderBody, TemplateBody
from services.api.schemas.messages import SendRequest, SuppressRequest
from services.api.spec import answers as a
from services.api.spec.operation import (
    IDEMPOTENCY,
    LISTING,
    Body,
    Operation,
    Param,
    Reply,
    after,
    integer,
    query,
    text,
)

#: What ``services.api.schemas.parse`` answers for a body that fails validation
#: (pydantic's own error type for the rarer checks).
VALIDATION = ("invalid_json", "missing_field", "unknown_field", "empty", "invalid_email",
              "header_injection", "invalid_character", "invalid_datetime", "missing_timezone",
              "string_type", "int_type")
READ_BODY = {400: VALIDATION, 413: ("body_too_large",)}
CSV = "text/csv"
CSV_SCHEMA = {"type": "string", "description": "a header row, then one row per recipient"}
CSV_BODY = Body("email,name\nann@example.com,Ann\n", schema=CSV_SCHEMA, media=CSV,
                description="recipients as CSV in the charset the ``charset`` parameter or "
                "the Content-Type names, else detected: UTF-8 (with or without a BOM), "
                "UTF-16 with a BOM, CP949/EUC-KR (what Korean Excel saves). Bytes the "
                "charset cannot read are refused (400 ``undecodable_csv``, naming the line), "
                "never replaced")
CSV_CHARSET = query("charset", text(), "with a CSV: its charset (``auto``, ``utf-8``, "
                    "``cp949``, ``euc-kr``, ``utf-16`` or another text encoding); wins over "
                    "the Content-Type's; ``auto`` or none: detected. A form upload may send "
                    "it as a form field before the file part")
LIMIT = query("limit", integer(1, MAX_LIMIT, 100), "rows per page")
TIME = "2030-06-01T09:00:00+00:00"

_MESSAGE = {"topicId": "welcome", "emails": ["ann@example.com"], "subject": "Hello",
            "content": "<p>Hello Ann</p>"}
_CREATED = {"id": 1, "topicId": "welcome", "email": "ann@example.com", "status": "created",
            "statusCode": 0}
_LISTED = {"id": 1, "email": "ann@example.com", "status": "sent", "statusCode": 2,
           "topicId": "welcome", "campaignId": None, "opens": 1, "clicks": 0,
           "delivered": True, "bounced": False, "complained": False, "sentAt": TIME,
           "providerMessageId": "0100018f-ses", "error": None}
_LISTING = {"messages": [_LISTED], "count": 1, "next": None}
_CANCELLED = {"cancelled": 3, "notCancelled": 1, "notCancelledByStatus": {"sending": 1}}
_TEMPLATE_BODY = {"name": "order", "subject": "Your order {{order}}",
                  "html": "<p>Hello {{name}}</p>", "text": None}
_TEMPLATE = {"id": 3, "name": "order", "version": 1, "subject": "Your order {{order}}",
             "variables": ["name", "order"], "createdAt": TIME, "updatedAt": TIME,
             "html": "<p>Hello {{name}}</p>", "text": None}
_LIST = {"id": 5, "name": "june", "columns": ["name"], "total": 1, "duplicates": 0,
         "templateId": None, "createdAt": TIME, "updatedAt": TIME}
_CAMPAIGN = {"id": 7, "name": "June", "topicId": "june", "templateId": 3, "templateVersion": 1,
             "from": "news@example.com", "state": "active", "scheduledAt": TIME, "total": 1,
             "duplicates": 0, "expanded": 0, "createdAt": TIME, "updatedAt": TIME}
_CAMPAIGN_BODY = {"name": "June", "templateId": 3, "topicId": "june",
                  "recipients": [{"email": "ann@example.com", "name": "Ann"}]}
_SUPPRESSION = {"email": "ann@example.com", "reason": "manual", "messageId": None,
                "createdAt": TIME}
_STATS = {"sent": 1, "delivered": 1, "bounced": 0, "hardBounced": 0, "softBounced": 0,
          "complained": 0, "rejected": 0, "delayed": 0, "unsubscribed": 0,
          "opens": {"unique": 1, "total": 2, "machine": 0},
          "clicks": {"unique": 0, "total": 0, "machine": 0},
          "rates": {"delivered": 1.0, "bounced": 0.0, "complained": 0.0, "opened": 1.0,
                    "clicked": 0.0}}
TOKEN = query("t", text(), "the signed token of the link", required=True)


#: A listing answers a JSON page, or every matching row as CSV (``format=csv``).
LISTING_REPLIES = (Reply(200, "a page of messages", a.Listing, example=_LISTING),
                   Reply(200, "every matching row", schema=CSV_SCHEMA, media=CSV,
                         example=",".join(_LISTED) + "\n"))
LISTING_ERRORS = {400: ("invalid_state", "invalid_email", "invalid_parameter",
                        "missing_parameter", "invalid_charset")}


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/", "get"): Operation(
        "Where things are: a browser goes to the console, other clients get an index",
        "operations",
        (Reply(200, "the index (a client that does not prefer HTML)", a.Index, example={
            "name": "mailpipe", "version": "0.1.0", "links": {
                "console": "/ui", "docs": "/docs", "openapi": "/openapi.json",
                "health": "/health"}}),
         Reply(302, "a client preferring HTML (a browser): to the console, /ui",
               headers=("Location",))),
        params=(Param("Accept", text(), "text/html (preferred) redirects to /ui",
                      where="header"),)),
    ("/openapi.json", "get"): Operation(
        "This description (OpenAPI 3.1)", "operations",
        (Reply(200, "the document", schema={"type": "object"}),)),
    ("/metrics", "get"): Operation(
        "Prometheus metrics of the api processes (MAILPIPE_METRICS_ALLOW addresses only)",
        "operations", (Reply(200, "the text exposition format", schema=text(),
                             media="text/plain"),),
        errors={403: ("metrics_not_allowed",)}),
    ("/docs", "get"): Operation(
        "The description as a page for people (Redoc)", "operations",
        (Reply(200, "the page", schema=text(), media="text/html"),)),
    ("/docs/redoc.standalone.js", "get"): Operation(
        "The page's renderer (vendored Redoc, MIT)", "operations",
        (Reply(200, "the script", schema=text(), media="text/javascript"),)),
    ("/health", "get"): Operation(
        "Is the database and Redis reachable, and may the fleet send", "operations",
        (Reply(200, "healthy", a.Health, example={
            "status": "ok", "database": "ok", "redis": "ok", "sending": "ok",
            "rate": {"mode": "fixed", "limit": 14.0, "current": 13.7, "quotaLeft24h": None}}),
         Reply(503, "degraded: the database or Redis is unavailable", a.Health, example={
             "status": "degraded", "database": "ok", "redis": "unavailable: ConnectionError",
             "sending": "ok", "rate": None})),
    ),
    ("/v1/messages", "post"): Operation(
        "Accept messages (one row per recipient)", "messages",
        (Reply(200, "stored and queued (with ?wait=: and every outcome arrived in time)",
               a.Accepted, example={"count": 1, "elapsed": "3.2ms", "messages": [_CREATED]}),
         Reply(202, "with ?wait=: the wait ran out first (the messages are still sent)",
               a.Accepted)),
        description="Validated whole before anything is written: a 4xx leaves nothing behind.",
        params=(query("wait", {"type": "number", "exclusiveMinimum": 0},
                      "seconds to wait for the outcomes (a synchronous send)"), IDEMPOTENCY),
        bodies=(Body({"messages": [_MESSAGE]}, SendRequest),),
        errors={**READ_BODY, 400: (*VALIDATION, "template_required", "template_conflict",
                                   "template_not_found", "missing_variable", "invalid_wait",
                                   "invalid_idempotency_key", "reserved_header",
                                   "too_many_headers"),
                403: ("sender_not_allowed",), 409: ("idempotency_key_reused",),
                413: ("body_too_large", "too_many_recipients", "too_many_attachments",
                      "attachments_too_large")},
    ),
    ("/v1/messages", "get"): Operation(
        "List a topic's messages", "messages", LISTING_REPLIES,
        params=(query("topicId", text(), "the topic", required=True), *LISTING, LIMIT),
        errors=LISTING_ERRORS,
    ),
    ("/v1/messages/{message_id}", "get"): Operation(
        "One message: state, attempts, provider id, events", "messages",
        (Reply(200, "the message", a.Message),), errors={404: ("message_not_found",)},
    ),
    ("/v1/messages/{message_id}", "delete"): Operation(
        "Cancel a message not claimed by a sender yet", "messages",
        (Reply(200, "what was cancelled", a.Cancelled, example=_CANCELLED),),
        errors={404: ("message_not_found",)},
    ),
    ("/v1/topics/{topic_id}", "get"): Operation(
        "A topic's messages per state, events per type and stats", "topics",
        (Reply(200, "the topic (total equals the sum of status)", a.Topic, example={
            "topicId": "welcome", "total": 1, "status": {"sent": 1}, "events": {"delivered": 1},
            "stats": _STATS}),),
    ),
    ("/v1/topics/{topic_id}", "delete"): Operation(
        "Cancel a topic's unclaimed messages and its campaigns", "topics",
        (Reply(200, "what was cancelled", a.TopicCancelled,
               example={"topicId": "welcome", **_CANCELLED, "campaignsCancelled": 0}),),
        errors={404: ("topic_not_found",)},
    ),
    ("/v1/events/counts/sent", "get"): Operation(
        "Messages sent in the last N hours", "events",
        (Reply(200, "the count", a.SentCount, example={"hours": 24, "count": 2}),),
        params=(query("hours", integer(1, MAX_HOURS, 24), "hours back"),),
        errors={400: ("invalid_parameter",)},
    ),
    ("/v1/events/results", "post"): Operation(
        "The SNS endpoint: SES notifications, signature-verified", "events",
        (Reply(200, "verified and handed to the recorder", a.SnsAnswer,
               example={"accepted": 1}),),
        description="A signed SNS message, or raw delivery with the shared secret "
        "(``?token=`` or basic auth). Anything not provably from SNS is refused.",
        params=(query("token", text(), "the raw-delivery secret"),),
        bodies=(Body({"Type": "Notification", "MessageId": "…", "TopicArn": "arn:aws:sns:…",
                      "Message": "{…}", "Timestamp": TIME, "SignatureVersion": "2",
                      "Signature": "…", "SigningCertURL": "https://sns…pem"},
                     schema={"type": "object"}, media="text/plain",
                     description="SNS posts JSON as text/plain"),
                Body({"Type": "Notification"}, schema={"type": "object"})),
        errors={403: ("sns_not_verified",), 503: ("queue_unavailable", "confirmation_failed")},
    ),
    ("/v1/events/open", "get"): Operation(
        "The open-tracking pixel", "tracking",
        (Reply(200, "a 1x1 GIF", schema={"type": "string", "format": "binary"},
               media="image/gif"),),
        params=(query("t", text(), "the signed token of the pixel"),
                query("requestId", text(), "the replaced system's pixel: answered, not "
                      "recorded")),
        errors={404: ("unknown_token",)},
    ),
    ("/v1/events/click", "get"): Operation(
        "A tracked link: records the click and redirects", "tracking",
        (Reply(302, "to the link's target", headers=("Location",)),), params=(TOKEN,),
        errors={404: ("unknown_token",)},
    ),
    ("/v1/unsubscribe", "get"): Operation(
        "The unsubscribe page (unsubscribes nobody)", "tracking",
        (Reply(200, "a page with a button", schema=text(), media="text/html"),),
        params=(TOKEN,), errors={404: ("unknown_token",)},
    ),
    ("/v1/unsubscribe", "post"): Operation(
        "RFC 8058 one-click unsubscribe", "tracking",
        (Reply(200, "unsubscribed", schema=text(), media="text/html"),),
        params=(TOKEN,), errors={404: ("unknown_token",)},
    ),
    ("/v1/suppressions", "get"): Operation(
        "The key's suppression list, in address order", "suppressions",
        (Reply(200, "a page", a.Suppressions, example={"suppressions": [_SUPPRESSION],
                                                        "next": None}),),
        params=(query("limit", integer(1, SUPPRESSIONS_LIMIT, 100), "entries per page"),
                query("after", text(), "the address after which the page starts"),
                query("email", text(), "this address only")),
        errors={400: ("invalid_parameter",)},
    ),
    ("/v1/suppressions", "post"): Operation(
        "Suppress addresses", "suppressions",
        (Reply(200, "what was added", a.Suppressed,
               example={"added": ["ann@example.com"], "alreadySuppressed": []}),),
        bodies=(Body({"emails": ["ann@example.com"]}, SuppressRequest),), errors=READ_BODY,
    ),
    ("/v1/suppressions/{email}", "get"): Operation(
        "Is this address suppressed", "suppressions",
        (Reply(200, "the entry", a.Suppression, example=_SUPPRESSION),),
        errors={404: ("not_suppressed",)},
    ),
    ("/v1/suppressions/{email}", "delete"): Operation(
        "Unsuppress an address", "suppressions", (Reply(204, "removed"),),
        errors={404: ("not_suppressed",)},
    ),
    ("/v1/templates", "post"): Operation(
        "Create a template", "templates",
        (Reply(201, "created", a.Template, example=_TEMPLATE, headers=("Location",)),),
        bodies=(Body(_TEMPLATE_BODY, TemplateBody),),
        errors={**READ_BODY, 400: (*VALIDATION, "invalid_template"),
                409: ("template_name_taken",)},
    ),
    ("/v1/templates", "get"): Operation(
        "The key's templates", "templates",
        (Reply(200, "a page", a.Templates, example={"templates": [], "next": None}),),
        params=(after(),), errors={400: ("invalid_parameter",)},
    ),
    ("/v1/templates/{template_id}", "get"): Operation(
        "A template (its latest version, or ?version=)", "templates",
        (Reply(200, "the template", a.Template, example=_TEMPLATE),),
        params=(query("version", integer(1, MAX_VERSION), "an earlier version"),),
        errors={400: ("invalid_parameter",), 404: ("template_not_found",)},
    ),
    ("/v1/templates/{template_id}", "put"): Operation(
        "Update a template (a new version)", "templates",
        (Reply(200, "the new version", a.Template, example=_TEMPLATE),),
        bodies=(Body(_TEMPLATE_BODY, TemplateBody),),
        errors={**READ_BODY, 400: (*VALIDATION, "invalid_template"),
                404: ("template_not_found",), 409: ("template_name_taken",)},
    ),
    ("/v1/templates/{template_id}", "delete"): Operation(
        "Delete a template", "templates", (Reply(204, "deleted"),),
        errors={404: ("template_not_found",)},
    ),
    ("/v1/templates/{template_id}/render", "post"): Operation(
        "Preview what one recipient with these values would receive", "templates",
        (Reply(200, "the rendered parts", a.Rendered, example={
            "version": 1, "subject": "Your order 12",
            "html": '<p>Hello Ann</p><p><a href="https://shop.example/o/12">Your order</a></p>',
            "text": "Hello Ann\n\nYour order (https://shop.example/o/12)"}),),
        description="``text`` is the text part as sent: the template's own, else drawn from "
        "its HTML (links as ``text (URL)``, headings and paragraphs as lines, list items as "
        "``- item``).",
        bodies=(Body({"variables": {"name": "Ann", "order": 12}}, RenderBody),),
        errors={**READ_BODY, 400: (*VALIDATION, "missing_variable"),
                404: ("template_not_found",)},
    ),
    ("/v1/lists", "post"): Operation(
        "Save a recipient list (JSON, or CSV with ?name=)", "lists",
        (Reply(201, "saved", a.RecipientList, example=_LIST, headers=("Location",)),),
        params=(query("name", text(minLength=1, maxLength=200), "with a CSV body"),
                CSV_CHARSET),
        bodies=(Body({"name": "june", "recipients": [{"email": "ann@example.com",
                                                      "name": "Ann"}]},
                     schema={"type": "object", "required": ["name", "recipients"],
                             "properties": {"name": text(minLength=1, maxLength=200),
                                            "recipients": {"type": "array", "minItems": 1,
                                                           "items": {"type": "object"}}}}),
                CSV_BODY),
        errors={**READ_BODY, 400: (*VALIDATION, "unsupported_media_type", "no_recipients",
                                   "invalid_recipients", "invalid_value", "wrong_cell_count",
                                   "too_many_columns",
                                   "invalid_csv", "invalid_charset", "undecodable_csv")},
    ),
    ("/v1/lists", "get"): Operation(
        "The key's recipient lists", "lists",
        (Reply(200, "a page", a.RecipientLists, example={"lists": [_LIST], "next": None}),),
        params=(after(),), errors={400: ("invalid_parameter",)},
    ),
    ("/v1/lists/{list_id}", "get"): Operation(
        "A list and a page of its recipients", "lists",
        (Reply(200, "the list", a.RecipientListPage, example={
            **_LIST, "next": None, "recipients": [{"email": "ann@example.com",
                                                    "name": "Ann"}]}),),
        params=(Param("after", integer(0, 2**31 - 1, 0), "the row after which the page "
                                                         "starts"),),
        errors={400: ("invalid_parameter",), 404: ("list_not_found",)},
    ),
    ("/v1/lists/{list_id}", "delete"): Operation(
        "Delete a list", "lists", (Reply(204, "deleted"),), errors={404: ("list_not_found",)},
    ),
    ("/v1/campaigns", "post"): Operation(
        "Create a campaign: recipients as JSON, a saved list, a CSV body or a form upload",
        "campaigns",
        (Reply(201, "created", a.Campaign, example=_CAMPAIGN, headers=("Location",)),),
        description="With a CSV body the campaign's fields go in the query string; with a "
        "form, as form fields before the file part ``recipients``.",
        params=(query("name", text(), "with a CSV body"),
                query("templateId", integer(1), "with a CSV body"),
                query("topicId", text(), "with a CSV body"),
                query("scheduledAt", text(format="date-time"), "with a CSV body"),
                CSV_CHARSET, IDEMPOTENCY),
        bodies=(Body(_CAMPAIGN_BODY, CampaignBody), CSV_BODY,
                Body({"name": "June", "templateId": 3, "topicId": "june",
                      "recipients": "email\nann@example.com\n"},
                     schema={"type": "object", "properties": {
                         "recipients": {"type": "string", "format": "binary"}}},
                     media="multipart/form-data")),
        errors={**READ_BODY, 400: (*VALIDATION, "unsupported_media_type", "no_recipients",
                                   "template_not_found", "list_not_found", "missing_variable",
                                   "invalid_recipients",
                                   "conflicting_fields", "wrong_cell_count", "invalid_csv",
                                   "invalid_charset", "undecodable_csv",
                                   "invalid_idempotency_key"),
                403: ("sender_not_allowed",), 404: ("list_not_found",),
                409: ("idempotency_key_reused",)},
    ),
    ("/v1/campaigns", "get"): Operation(
        "The key's campaigns", "campaigns",
        (Reply(200, "a page", a.Campaigns, example={"campaigns": [_CAMPAIGN], "next": None}),),
        params=(after(),), errors={400: ("invalid_parameter",)},
    ),
    ("/v1/campaigns/{campaign_id}", "get"): Operation(
        "A campaign and its progress", "campaigns",
        (Reply(200, "the campaign", a.Campaign, example={
            **_CAMPAIGN, "phase": "sending", "status": {"sent": 1}}),),
        errors={404: ("campaign_not_found",)},
    ),
    ("/v1/campaigns/{campaign_id}/messages", "get"): Operation(
        "A campaign's recipients as messages", "campaigns",
        LISTING_REPLIES, params=(*LISTING, LIMIT),
        errors={**LISTING_ERRORS, 404: ("campaign_not_found",)},
    ),
    ("/v1/campaigns/{campaign_id}/{action}", "post"): Operation(
        "Pause, resume or cancel a campaign", "campaigns",
        (Reply(200, "the campaign after the action", a.Campaign,
               example={**_CAMPAIGN, "state": "paused", "phase": "paused", "status": {}}),),
        path={"action": text(enum=["pause", "resume", "cancel"])},
        errors={404: ("campaign_not_found", "not_found"),
                409: ("campaign_not_active", "campaign_not_paused", "campaign_cancelled")},
    ),
}
