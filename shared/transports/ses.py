"""The ``ses`` transport: SES v2 SendEmail (Simple content, or Raw MIME) and SendBulkEmail.

What each request carries is in shared.transports.ses_content; how the two
sending calls reach SES (straight over HTTP, or through boto3's own calls:
MAILPIPE_SES_CLIENT) in shared.transports.ses_wire.

Standard AWS configuration is honoured as boto3 reads it (AWS_REGION,
credentials, profiles, AWS_ENDPOINT_URL_SESV2). SDK retries are off: a
botocore retry after a read timeout could deliver the message twice.
botocore's client-side parameter validation is off too: every request is
built here from checked parts (shared.transports.ses_content), and SES
checks it again (a 400 is a permanent failure, as a local refusal was).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
)

from shared.errors import Failure, TransportError
from shared.rate.quota import Quota
from shared.settings import Settings
from shared.transports.base import BulkSend, EntryResult, Envelope, Pace, no_pace
from shared.transports.ses_content import (
    bulk_request,
    destination,
    email_tags,
    entry_result,
    simple_content,
)
from shared.transports.ses_wire import SesWire

log = logging.getLogger("mailpipe.ses")

#: Error codes meaning "slow down": the message was not accepted.
THROTTLING = {
    "TooManyRequestsException",
    "Throttling",
    "ThrottlingException",
    "LimitExceededException",
}
#: The account cannot send right now, whatever the message: SES's own pause or
#: suspension, and AWS's answers about the caller rather than the request
#: (credentials expired, unknown or wrong; a signature or clock it will not
#: take; a permission missing). The message was not accepted; the fleet pauses
#: until a probe of the account (GetAccount) succeeds.
ACCOUNT = {
    "SendingPausedException", "AccountSuspendedException",
    "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
    "UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "IncompleteSignature", "InvalidSignatureException", "MissingAuthenticationToken",
    "MissingAuthenticationTokenException", "RequestExpired", "AccessDenied",
    "AccessDeniedException", "NotAuthorized", "OptInRequired", "AuthFailure",
}


def classify_client_error(exc: ClientError) -> TransportError:
    """Decide, from SES's answer, whether the message may be sent again."""
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "") or str(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    text = f"SES {code or status}: {message}"
    if code in THROTTLING:
        return TransportError(text, Failure.TRANSIENT, throttled=True)
    if code in ACCOUNT or status in (401, 403):
        # 401 and 403 are about who asks (AWS answers them before reading the
        # request), never about the message: SES refuses a message with 400.
        return TransportError(text, Failure.TRANSIENT, pauses_fleet=True)
    if status >= 500:
        # SES got the request and failed; it may still have queued the mail.
        return TransportError(text, Failure.AMBIGUOUS)
    return TransportError(text, Failure.PERMANENT)


class SesTransport:
    def __init__(self, client, *, bulk: bool = True, direct: bool = True,
                 configuration_set: str | None = None,
                 find_configuration_set: Callable[[], str | None] | None = None,
                 find_every: float = 300.0) -> None:
        """``bulk``: send messages sharing a content with SendBulkEmail (MAILPIPE_SES_BULK).
        ``direct``: make those calls over shared.transports.ses_wire where it
        can reach the client's endpoint (MAILPIPE_SES_CLIENT), else through boto3.
        ``configuration_set``: named on every call (MAILPIPE_SES_CONFIGURATION_SET), so
        SES reports each message's events through that set's destinations.
        ``find_configuration_set``: while there is none, asked at most every
        ``find_every`` seconds for the set to name from then on (the fleet's, once
        ``mailpipe ses setup`` made it): no restart needed."""
        self.client = client
        self.bulk = bulk
        self.configuration_set = configuration_set
        self._find_set = None if configuration_set else find_configuration_set
        self._find_every = find_every
        self._find_at = time.monotonic() + find_every
        self._find_lock = threading.Lock()
        self.wire = SesWire.for_client(client) if direct else None
        # The pace of the send in progress on each thread, called by botocore
        # once the request is built and signed, right before it is sent.
        self._pace = threading.local()
        client.meta.events.register("before-send.sesv2.SendEmail", self._before_send)
        client.meta.events.register("before-send.sesv2.SendBulkEmail", self._before_send)

    def _before_send(self, **_) -> None:
        pace, self._pace.call = getattr(self._pace, "call", no_pace), no_pace
        pace()

    @classmethod
    def from_environment(
        cls, *, region: str | None = None, max_connections: int = 64, bulk: bool = True,
        direct: bool = True, configuration_set: str | None = None,
    ) -> SesTransport:
        """A client configured the standard AWS way; ``region`` wins when given."""
        return cls(_sesv2_client(region, max_connections), bulk=bulk, direct=direct,
                   configuration_set=configuration_set)

    def warm_up(self, connections: int = 1) -> None:
        """Open connections and make a cheap call (GetAccount), so that no real send
        is slowed by a first time.

        boto3 resolves endpoints and builds serializers on a client's first
        call, and each connection costs a TCP (and TLS) handshake on its
        first request; a send delayed by either arrives at SES late, bunched
        with the next ones, and can trip SES's per-second limit. So
        ``connections`` connections are opened, one per sending thread (by
        as many GetAccount calls at once when boto3 sends). Best effort: an
        IAM policy without ses:GetAccount only costs the warm-up.
        """
        def call(_) -> None:
            try:
                self.client.get_account()
            except (BotoCoreError, ClientError) as exc:
                log.debug("SES warm-up call failed (harmless): %s", exc)

        call(None)  # the first alone: it builds what the client caches
        if self.wire is not None:
            try:
                self.wire.open(connections)
            except TransportError as exc:
                log.warning("SES warm-up could not connect (sends will retry): %s", exc)
        elif connections > 1:
            with ThreadPoolExecutor(connections) as pool:
                list(pool.map(call, range(connections)))

    def send(self, envelope: Envelope, pace: Pace = no_pace) -> str:
        """SendEmail: SES builds the MIME from the message's parts where Simple can say it."""
        simple = simple_content(envelope.composed) if envelope.composed else None
        if simple is not None:
            request = {"FromEmailAddress": envelope.composed.from_header,
                       "Destination": destination(envelope.composed),
                       "Content": {"Simple": simple}}
            if envelope.composed.reply_to:
                request["ReplyToAddresses"] = [envelope.composed.reply_to]
        else:
            request = {"FromEmailAddress": envelope.mail_from,
                       "Destination": {"ToAddresses": list(envelope.recipients)},
                       "Content": {"Raw": {"Data": envelope.raw}}}
        if envelope.tags:
            request["EmailTags"] = email_tags(envelope.tags)
        return self._call("SendEmail", request, pace,
                          envelope.configuration_set)["MessageId"]

    @property
    def send_bulk(self):
        """SendBulkEmail (``_send_bulk``), or None when it is turned off."""
        return self._send_bulk if self.bulk else None

    def _send_bulk(self, bulk: BulkSend, pace: Pace = no_pace) -> list[EntryResult]:
        """SendBulkEmail with the content inline: one result per entry, in order.

        A call SES refused whole raises, as ``send`` does; an answer with fewer
        results than entries leaves the missing ones ambiguous.
        """
        answer = self._call("SendBulkEmail", bulk_request(bulk), pace, bulk.configuration_set)
        results = [entry_result(r) for r in answer.get("BulkEmailEntryResults", [])]
        missing = TransportError("SES answered without a result for this entry",
                                 Failure.AMBIGUOUS)
        return (results + [missing] * len(bulk.entries))[:len(bulk.entries)]

    def _fleet_set(self) -> str | None:
        """The transport's configuration set, looked for again when it is due (one sending
        thread asks; the others go on with none meanwhile)."""
        if (self._find_set is None or time.monotonic() < self._find_at
                or not self._find_lock.acquire(blocking=False)):
            return self.configuration_set
        try:
            self._find_at = time.monotonic() + self._find_every
            found = self._find_set()
            if found:
                log.warning("the SES configuration set %s exists now: named on every send "
                            "from here on", found)
                self.configuration_set, self._find_set = found, None
        finally:
            self._find_lock.release()
        return self.configuration_set

    def _call(self, operation: str, request: dict, pace: Pace,
              configuration_set: str | None = None) -> dict:
        """``configuration_set``: the key's, named instead of the transport's own."""
        configuration_set = configuration_set or self.configuration_set or self._fleet_set()
        if configuration_set:
            request["ConfigurationSetName"] = configuration_set
        if self.wire is not None:
            try:
                return self.wire.call(operation, request, pace)
            except ClientError as exc:
                raise classify_client_error(exc) from exc
        self._pace.call = pace
        try:
            return getattr(self.client, xform_name(operation))(**request)
        except ClientError as exc:
            raise classify_client_error(exc) from exc
        except ParamValidationError as exc:
            # botocore refused to build the request: nothing left.
            raise TransportError(f"SES request not valid: {exc}", Failure.PERMANENT) from exc
        except NoCredentialsError as exc:
            # Nothing to sign with, so nothing was sent: the fleet's problem, not
            # the message's; sends resume once there are credentials.
            raise TransportError(f"not sent: {exc}", Failure.TRANSIENT,
                                 pauses_fleet=True) from exc
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            # No connection was made, so no request reached SES.
            raise TransportError(f"SES unreachable: {exc}", Failure.TRANSIENT) from exc
        except BotoCoreError as exc:
            # Read timeouts, dropped connections: SES may have accepted it.
            raise TransportError(f"SES outcome unknown: {exc}", Failure.AMBIGUOUS) from exc
        finally:
            self._pace.call = no_pace


def ses_region(settings: Settings) -> str | None:
    """The region ``ses_client`` sends in: AWS_REGION, else the SDK's own (profile, …)."""
    return settings.aws_region or boto3.session.Session().region_name


def received_message_id(ses_message_id: str, region: str | None) -> str:
    """The Message-ID (without <>) recipients see on a message SES sent.

    SES replaces any Message-ID header it is given with one made of its own
    MessageId (the developer guide's "Amazon SES header fields"), under
    ``email.amazonses.com`` in us-east-1 and ``{region}.amazonses.com`` elsewhere.
    """
    host = "email.amazonses.com" if region in (None, "us-east-1") else f"{region}.amazonses.com"
    return f"{ses_message_id}@{host}"


def ses_client(settings: Settings, *, max_connections: int = 64):
    """An SES v2 client, configured the standard AWS way, for the settings' AWS region.

    What SesTransport sends through and the scheduler reads the quota with
    (``read_quota``). SDK retries are off (see the module's docstring).
    """
    return _sesv2_client(settings.aws_region, max_connections)


def _sesv2_client(region: str | None, max_connections: int):
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},  # no SDK retries
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=max_connections,
        parameter_validation=False,
    )
    session = boto3.session.Session()
    return session.client("sesv2", region_name=region or None, config=config)


def read_quota(client) -> Quota:
    """The account's sending quota from SES v2 GetAccount."""
    account = client.get_account()
    quota = account.get("SendQuota", {})
    return Quota(
        max_send_rate=float(quota.get("MaxSendRate", 1.0)),
        max_24h=float(quota.get("Max24HourSend", -1)),
        sent_24h=float(quota.get("SentLast24Hours", 0)),
        enabled=bool(account.get("SendingEnabled", True)),
        refreshed_at=time.time(),
        enforcement=str(account.get("EnforcementStatus") or "HEALTHY"),
    )
