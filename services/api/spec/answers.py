"""The shapes of the native API's answers, as pydantic models for the OpenAPI description.

The views (``services.api.views``, the resources' ``*_view`` functions)
build the answers; these models say what they hold, and the schemathesis
test (tests/api/test_openapi.py) checks every answer against them, so a view
that drifts from its model fails the suite. Extra fields are refused: an
undocumented field is drift too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.states import MessageState

State = Literal[tuple(s.value for s in MessageState)]  # type: ignore[valid-type]
#: The seed systems' numeric status: 0 created, 1 processing, 2 sent, 3 failed, 4 stopped.
StatusCode = Literal[0, 1, 2, 3, 4]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Answer):
    """One bad field of a body, or one bad recipient row (by JSON ``index`` or CSV ``row``)."""

    code: str
    field: str | None
    message: str
    index: int | None = None
    row: int | None = None


class Error(Answer):
    """Every native error: a stable ``code``, a human ``message``, the ``field`` at fault."""

    code: str = Field(description="stable and machine-readable (see each operation)")
    message: str
    error: str = Field(description="the message again, under aws-ses-sender-go's name")
    field: str | None = None
    errors: list[ErrorDetail] | None = Field(None, description="every bad field of a body")


class IndexLinks(Answer):
    console: str = Field(description="the web console (where a browser is sent)")
    docs: str
    openapi: str
    health: str


class Index(Answer):
    """``GET /`` for a client that does not prefer HTML."""

    name: Literal["mailpipe"]
    version: str
    links: IndexLinks


class HealthRate(Answer):
    mode: Literal["fixed", "auto"]
    limit: float | None = Field(description="recipients/s for the whole fleet, as applied "
                                "(a fixed MAILPIPE_SEND_RATE less the same headroom as auto)")
    configured: float | None = Field(None, description="MAILPIPE_SEND_RATE as set (fixed mode)")
    current: float = Field(description="recipients/s the fleet sent over the last 10 s")
    quotaLeft24h: float | None
    sesSendingEnabled: bool | None = None


class Health(Answer):
    status: Literal["ok", "degraded"]
    database: str
    redis: str
    sending: str = Field(description='"ok", or "paused: <reason>" when SES refuses to send')
    rate: HealthRate | None


class Created(Answer):
    """One message row created by ``POST /v1/messages`` (one per recipient)."""

    id: int
    topicId: str
    email: str
    status: State
    statusCode: StatusCode
    providerMessageId: str | None = Field(None, description="with ?wait= once sent")
    error: str | None = Field(None, description="with ?wait= when not sent")


class Accepted(Answer):
    count: int
    elapsed: str = Field(description='time taken, as Go writes a duration ("12.5ms"): '
                         "aws-ses-sender-go's answer")
    messages: list[Created]


class MessageEvent(Answer):
    type: str
    at: AwareDatetime | None
    detail: str | None
    machine: bool | None = Field(description="an open or click by a prefetcher or scanner")
    payload: dict[str, Any] | None


class Message(Answer):
    id: int
    topicId: str
    to: str
    toName: str | None = Field(description="the display name ``to`` was given with")
    cc: list[str] | None
    bcc: list[str] | None
    alsoTo: list[str] | None
    names: dict[str, str] = Field(description="display names of alsoTo and cc, by "
                                  "lower-cased address")
    messageId: str | None = Field(description="the Message-ID header the email carries")
    status: State
    statusCode: StatusCode
    attempts: int
    providerMessageId: str | None
    error: str | None
    scheduledAt: AwareDatetime | None
    createdAt: AwareDatetime
    sentAt: AwareDatetime | None
    events: list[MessageEvent]
    from_: str | None = Field(alias="from")


class ListedMessage(Answer):
    id: int
    email: str
    status: State
    statusCode: StatusCode
    topicId: str
    campaignId: int | None
    opens: int
    clicks: int
    delivered: bool
    bounced: bool
    complained: bool
    sentAt: AwareDatetime | None
    providerMessageId: str | None
    error: str | None
    name: str | None = Field(description="the display name ``email`` was given with")


class Listing(Answer):
    messages: list[ListedMessage]
    count: int
    next: str | None = Field(description="the next page's URL, null on the last page")


class Cancelled(Answer):
    cancelled: int
    notCancelled: int
    notCancelledByStatus: dict[str, int] = Field(description="what was beyond reach, by state")


class TopicCancelled(Cancelled):
    topicId: str
    campaignsCancelled: int


class Tally(Answer):
    unique: int
    total: int
    machine: int


class Rates(Answer):
    delivered: float | None
    bounced: float | None
    complained: float | None
    opened: float | None
    clicked: float | None


class TopicStats(Answer):
    sent: int
    delivered: int
    bounced: int
    hardBounced: int
    softBounced: int
    complained: int
    rejected: int
    delayed: int
    unsubscribed: int
    opens: Tally
    clicks: Tally
    rates: Rates


class SeedRequestCounts(Answer):
    """aws-ses-sender-go's ``request``: messages by status code (processing only in total)."""

    total: int
    created: int
    sent: int
    failed: int
    stopped: int


class SeedResult(Answer):
    statuses: dict[str, int] = Field(description="messages per event, under upstream's names "
                                     "(Delivery, Bounce, Complaint, Open, Click, …)")


class Topic(Answer):
    topicId: str
    total: int = Field(description="the sum of status")
    status: dict[str, int] = Field(description="messages per state")
    events: dict[str, int] = Field(description="events per type")
    stats: TopicStats
    request: SeedRequestCounts
    result: SeedResult


class SentCount(Answer):
    hours: int
    since: AwareDatetime = Field(description="the start of the counted window")
    count: int


class TemplateSummary(Answer):
    id: int
    name: str
    version: int
    subject: str
    variables: list[str]
    createdAt: AwareDatetime
    updatedAt: AwareDatetime


class Template(TemplateSummary):
    html: str
    text: str | None


class Templates(Answer):
    templates: list[TemplateSummary]
    next: str | None


class Rendered(Answer):
    version: int
    subject: str
    html: str
    text: str | None


class RecipientList(Answer):
    id: int
    name: str
    columns: list[str]
    total: int
    duplicates: int
    templateId: int | None = Field(description="the template whose variables the console's "
                                   "grid shows as columns; null for a list made here")
    createdAt: AwareDatetime
    updatedAt: AwareDatetime = Field(description="when its rows were last saved (the "
                                     "console's grid edits a list)")


class RecipientLists(Answer):
    lists: list[RecipientList]
    next: str | None


class RecipientListPage(RecipientList):
    next: str | None
    recipients: list[dict[str, Any]] = Field(description='[{"email", ...values}]')


class Campaign(Answer):
    id: int
    name: str
    topicId: str
    templateId: int | None
    templateVersion: int
    state: Literal["active", "paused", "cancelled"]
    scheduledAt: AwareDatetime | None
    total: int
    duplicates: int
    expanded: int
    createdAt: AwareDatetime
    updatedAt: AwareDatetime
    from_: str | None = Field(alias="from")
    phase: str | None = Field(None, description="scheduled, expanding, sending, completed, "
                              "paused or cancelled")
    status: dict[str, int] | None = Field(None, description="recipients per message state")


class Campaigns(Answer):
    campaigns: list[Campaign]
    next: str | None


class Suppression(Answer):
    email: str
    reason: str = Field(description="bounce, complaint, unsubscribe or manual")
    messageId: int | None
    createdAt: AwareDatetime


class Suppressions(Answer):
    suppressions: list[Suppression]
    next: str | None = Field(description="the after of the following page")


class Suppressed(Answer):
    added: list[str]
    alreadySuppressed: list[str]


class SnsAnswer(Answer):
    accepted: int | None = Field(None, description="events handed to the recorder")
    confirmed: str | None = Field(None, description="the topic ARN subscribed to")
    unsubscribed: str | None = None


class Webhook(Answer):
    """An endpoint as its key sees it: never its secret."""

    id: int
    url: str
    eventTypes: list[str] = Field(description="the types it gets; empty: every type")
    topics: list[str] = Field(description="the topics it gets; empty: every topic")
    enabled: bool
    disabledReason: Literal["gone", "failing", "manual"] | None = Field(
        description="gone: it answered 410; failing: every delivery failed for 5 days; "
        "manual: disabled through the API")
    failingSince: AwareDatetime | None = Field(
        description="its first failed delivery since the last success")
    previousSecretValidUntil: AwareDatetime | None = Field(
        description="until then the secret before the last rotation signs too")
    createdAt: AwareDatetime
    updatedAt: AwareDatetime


class WebhookWithSecret(Webhook):
    """The answer that makes a secret (creation, rotation): the only time it is shown."""

    secret: str = Field(description="``whsec_`` + base64: verify signatures with it; store "
                        "it now, it is not shown again")


class Webhooks(Answer):
    webhooks: list[Webhook]
    next: str | None


class WebhookDelivery(Answer):
    id: int
    eventId: str = Field(description="the event's ``webhook-id``")
    type: str
    occurredAt: AwareDatetime
    state: Literal["pending", "delivering", "delivered", "failed"]
    attempts: int
    lastStatus: int | None = Field(description="the last attempt's HTTP status (none: no "
                                   "answer)")
    lastResponse: str | None = Field(description="the first 1 KB of its body")
    lastError: str | None
    nextAttemptAt: AwareDatetime | None
    deliveredAt: AwareDatetime | None
    createdAt: AwareDatetime


class WebhookDeliveries(Answer):
    deliveries: list[WebhookDelivery]
    next: str | None


class WebhookReplayed(Answer):
    replayed: int = Field(description="deliveries queued")


class WebhookTestQueued(Answer):
    deliveryId: int
    eventId: str
