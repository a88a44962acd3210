"""What SES v2 says about the account: GetAccount, the identities, the configuration set.

Read through boto3 with the client the sender and the scheduler use
(``shared.transports.ses.ses_client``: the same credentials, region and
endpoint). A failure to read is a ``SesUnavailable`` with a reason an
operator can act on (no credentials, access denied, throttled, unreachable),
never an exception from botocore. ``AccountReader`` asks SES at most once per
``ttl`` (30 s) whoever asks it, so a page reloaded in a loop cannot hammer SES.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from shared.transports.ses import THROTTLING

#: Answers meaning the credentials themselves are refused (wrong, expired, clock skew).
REFUSED_CREDENTIALS = {
    "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
    "UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "IncompleteSignature", "InvalidSignatureException", "MissingAuthenticationToken",
    "MissingAuthenticationTokenException", "RequestExpired", "AuthFailure",
}
#: Answers meaning the credentials are fine but may not make this call (IAM).
DENIED = {"AccessDenied", "AccessDeniedException", "NotAuthorized"}

#: The reasons a read can fail, for ``SesUnavailable.reason``.
REASONS = ("no_credentials", "no_region", "credentials_refused", "access_denied",
           "throttled", "unreachable", "error")


class SesUnavailable(Exception):
    """Raised when SES could not be read; ``reason`` is one of ``REASONS``, ``detail`` SES's
    (or botocore's) own words, ``operation`` the call that failed, ``at`` when."""

    def __init__(self, reason: str, detail: str, operation: str,
                 at: datetime | None = None) -> None:
        super().__init__(f"{operation}: {detail}")
        self.reason = reason
        self.detail = detail
        self.operation = operation
        self.at = at or datetime.now(UTC)


@dataclass(frozen=True)
class Account:
    """GetAccount, in the words mailpipe needs."""

    #: False: the account is in the sandbox (verified recipients only, 200 a day, 1/s).
    production: bool
    #: A production-access request's review: PENDING, FAILED, GRANTED, DENIED (None: none).
    review: str | None
    review_case: str | None
    sending_enabled: bool
    #: HEALTHY, PROBATION (under review) or SHUTDOWN.
    enforcement: str
    max_send_rate: float
    #: Recipients per 24 hours; -1: unlimited.
    max_24h: float
    sent_24h: float

    @property
    def quota_used(self) -> float | None:
        """The share of the 24-hour quota used (0..1), None when it is unlimited."""
        if self.max_24h <= 0:
            return None
        return min(1.0, self.sent_24h / self.max_24h)


@dataclass(frozen=True)
class Identity:
    """A domain or address of ListEmailIdentities."""

    name: str
    #: DOMAIN, EMAIL_ADDRESS or MANAGED_DOMAIN.
    kind: str
    #: SUCCESS, PENDING, FAILED, TEMPORARY_FAILURE or NOT_STARTED.
    status: str
    sending_enabled: bool

    @property
    def verified(self) -> bool:
        return self.status == "SUCCESS"


@dataclass(frozen=True)
class Destination:
    """An event destination of the configuration set."""

    name: str
    enabled: bool
    #: SES's event types (SEND, DELIVERY, BOUNCE, …).
    types: frozenset[str]
    #: SNS, CLOUD_WATCH, KINESIS_FIREHOSE, EVENT_BRIDGE or PINPOINT.
    kind: str
    #: The SNS topic of an SNS destination.
    topic_arn: str | None = None


@dataclass(frozen=True)
class ConfigurationSet:
    name: str
    sending_enabled: bool
    destinations: tuple[Destination, ...]


@dataclass(frozen=True)
class Reading:
    """One reading of the account. The identities and the configuration set are read
    after GetAccount; each may have failed on its own (``errors``, by part: the
    credentials may lack only ``ses:ListEmailIdentities``)."""

    region: str | None
    account: Account
    identities: tuple[Identity, ...] | None
    #: The configuration set mailpipe names (MAILPIPE_SES_CONFIGURATION_SET), or None.
    configuration_set_name: str | None
    #: That set as SES has it; None when it is not named, does not exist, or could not be read.
    configuration_set: ConfigurationSet | None
    read_at: datetime
    #: ``identities``, ``configuration_set`` or ``subscriptions`` → why it could not be read.
    errors: dict[str, SesUnavailable] = field(default_factory=dict)
    #: Each destination topic's subscription to mailpipe's events URL, as SNS lists it
    #: (``read_subscription``); None when SNS was not asked.
    subscriptions: dict[str, str | None] | None = None

    @property
    def destination_topics(self) -> list[str]:
        """The SNS topics the configuration set's enabled destinations publish to."""
        found = self.configuration_set
        return sorted({d.topic_arn for d in (found.destinations if found else ())
                       if d.kind == "SNS" and d.enabled and d.topic_arn})


def unavailable(exc: Exception, operation: str) -> SesUnavailable:
    """``exc``, raised by a boto3 call, as the operator's kind of problem."""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return SesUnavailable("no_credentials", str(exc), operation)
    if isinstance(exc, NoRegionError):
        return SesUnavailable("no_region", str(exc), operation)
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError,
                        ConnectionClosedError)):
        return SesUnavailable("unreachable", str(exc), operation)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        detail = f"{code or status}: {error.get('Message') or exc}"
        if code in THROTTLING or status == 429:
            return SesUnavailable("throttled", detail, operation)
        if code in REFUSED_CREDENTIALS:
            return SesUnavailable("credentials_refused", detail, operation)
        if code in DENIED or status == 403:
            return SesUnavailable("access_denied", detail, operation)
        if status in (502, 503, 504):
            return SesUnavailable("unreachable", detail, operation)
        return SesUnavailable("error", detail, operation)
    return SesUnavailable("error", str(exc), operation)


def call(client, operation: str, method: str, **params) -> dict:
    """``client.method(**params)``; SesUnavailable naming ``operation`` when it fails."""
    try:
        return getattr(client, method)(**params)
    except (BotoCoreError, ClientError) as exc:
        raise unavailable(exc, operation) from exc


def pages(client, operation: str, method: str, **params) -> Iterator[dict]:
    """Each answer of a listing ``call``, page after page (NextToken), asked only as read."""
    while True:
        answer = call(client, operation, method, **params)
        yield answer
        if not answer.get("NextToken"):
            return
        params["NextToken"] = answer["NextToken"]


def read_account(client) -> Account:
    """GetAccount; SesUnavailable when it fails."""
    answer = call(client, "GetAccount", "get_account")
    quota = answer.get("SendQuota", {})
    review = answer.get("Details", {}).get("ReviewDetails", {})
    return Account(
        production=bool(answer.get("ProductionAccessEnabled", False)),
        review=review.get("Status"), review_case=review.get("CaseId"),
        sending_enabled=bool(answer.get("SendingEnabled", True)),
        enforcement=answer.get("EnforcementStatus") or "HEALTHY",
        max_send_rate=float(quota.get("MaxSendRate", 0)),
        max_24h=float(quota.get("Max24HourSend", 0)),
        sent_24h=float(quota.get("SentLast24Hours", 0)),
    )


def read_identities(client, limit: int = 1000) -> tuple[Identity, ...]:
    """ListEmailIdentities, page after page, at most ``limit`` identities."""
    found: list[Identity] = []
    for answer in pages(client, "ListEmailIdentities", "list_email_identities", PageSize=100):
        found += [Identity(i.get("IdentityName", ""), i.get("IdentityType", ""),
                           i.get("VerificationStatus", "NOT_STARTED"),
                           bool(i.get("SendingEnabled", False)))
                  for i in answer.get("EmailIdentities", [])]
        if len(found) >= limit:
            break
    return tuple(found[:limit])


def _destination(raw: dict) -> Destination:
    kinds = {"SnsDestination": "SNS", "CloudWatchDestination": "CLOUD_WATCH",
             "KinesisFirehoseDestination": "KINESIS_FIREHOSE",
             "EventBridgeDestination": "EVENT_BRIDGE", "PinpointDestination": "PINPOINT"}
    kind = next((kinds[k] for k in kinds if k in raw), "")
    return Destination(raw.get("Name", ""), bool(raw.get("Enabled", False)),
                       frozenset(raw.get("MatchingEventTypes", [])), kind,
                       raw.get("SnsDestination", {}).get("TopicArn"))


def read_configuration_set(client, name: str) -> ConfigurationSet | None:
    """GetConfigurationSet and its event destinations; None when SES has no set ``name``."""
    try:
        answer = client.get_configuration_set(ConfigurationSetName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFoundException":
            return None
        raise unavailable(exc, "GetConfigurationSet") from exc
    except BotoCoreError as exc:
        raise unavailable(exc, "GetConfigurationSet") from exc
    destinations = call(client, "GetConfigurationSetEventDestinations",
                         "get_configuration_set_event_destinations",
                         ConfigurationSetName=name).get("EventDestinations", [])
    return ConfigurationSet(
        name, bool(answer.get("SendingOptions", {}).get("SendingEnabled", True)),
        tuple(_destination(d) for d in destinations))


def read_subscription(sns, topic_arn: str, endpoint: str) -> str | None:
    """The SubscriptionArn of the topic's subscription to ``endpoint`` (SNS
    ListSubscriptionsByTopic): ``PendingConfirmation`` while SNS waits for mailpipe to
    confirm it; None when there is none."""
    for answer in pages(sns, "ListSubscriptionsByTopic", "list_subscriptions_by_topic",
                        TopicArn=topic_arn):
        for found in answer.get("Subscriptions", []):
            if found.get("Endpoint") == endpoint and found.get("Protocol") in ("http", "https"):
                return found.get("SubscriptionArn") or "PendingConfirmation"
    return None


def confirmed(subscription_arn: str | None) -> bool:
    """Whether ``read_subscription``'s answer is a confirmed subscription (an ARN, not
    ``PendingConfirmation``)."""
    return bool(subscription_arn) and subscription_arn.startswith("arn:")


def read(client, configuration_set: str | None, sns: Callable[[], object] | None = None,
         events_url: str | None = None) -> Reading:
    """The whole reading; SesUnavailable when GetAccount itself fails (nothing else is
    asked then: an SES that cannot answer it will not answer the rest). With ``sns`` (what
    gives an SNS client, asked only when there is a destination topic), each destination
    topic's subscription to ``events_url`` too."""
    account = read_account(client)
    errors: dict[str, SesUnavailable] = {}
    identities = found_set = None
    try:
        identities = read_identities(client)
    except SesUnavailable as exc:
        errors["identities"] = exc
    if configuration_set:
        try:
            found_set = read_configuration_set(client, configuration_set)
        except SesUnavailable as exc:
            errors["configuration_set"] = exc
    reading = Reading(client.meta.region_name, account, identities, configuration_set,
                      found_set, datetime.now(UTC), errors)
    if sns is None or events_url is None:
        return reading
    try:
        topics = reading.destination_topics
        client_sns = sns() if topics else None
        subscriptions = {topic: read_subscription(client_sns, topic, events_url)
                         for topic in topics}
    except SesUnavailable as exc:
        errors["subscriptions"] = exc
        return reading
    except (BotoCoreError, ClientError) as exc:  # making the client (no region, …)
        errors["subscriptions"] = unavailable(exc, "ListSubscriptionsByTopic")
        return reading
    return replace(reading, subscriptions=subscriptions)


class AccountReader:
    """``read`` at most once per ``ttl`` seconds, the answer (or the failure) kept between.

    One caller reads while the others wait for its answer, so a burst of page
    loads costs SES one reading. The client is made when first needed (a
    missing region is a failure to show, not one at start-up).
    """

    def __init__(self, make_client: Callable[[], object], configuration_set: str | None,
                 ttl: float = 30.0, clock: Callable[[], float] = time.monotonic, *,
                 make_sns: Callable[[], object] | None = None,
                 events_url: str | None = None) -> None:
        """``make_sns`` and ``events_url``: read the destination topics' subscriptions too."""
        self._make_client = make_client
        self._client = None
        self._make_sns = make_sns
        self._sns = None
        self.events_url = events_url
        self.configuration_set = configuration_set
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: tuple[float, Reading | SesUnavailable] | None = None

    def reading(self) -> Reading:
        """The account as last read (at most ``ttl`` ago); SesUnavailable as last failed."""
        with self._lock:
            if self._kept is None or self._clock() - self._kept[0] >= self.ttl:
                self._kept = (self._clock(), self._read())
            kept = self._kept[1]
        if isinstance(kept, SesUnavailable):  # a new one: a kept traceback would grow
            raise SesUnavailable(kept.reason, kept.detail, kept.operation, kept.at)
        return kept

    def _sns_client(self):
        if self._sns is None:
            self._sns = self._make_sns()
        return self._sns

    def _read(self) -> Reading | SesUnavailable:
        try:
            if self._client is None:
                self._client = self._make_client()
            return read(self._client, self.configuration_set,
                        self._sns_client if self._make_sns else None, self.events_url)
        except SesUnavailable as exc:
            return exc
        except (BotoCoreError, ClientError) as exc:  # making the client (no region, …)
            return unavailable(exc, "GetAccount")
