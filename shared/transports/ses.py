"""The ``ses`` transport: SES v2 SendEmail (Simple content, or Raw MIME) and SendBulkEmail.

What each request carries is in shared.transports.ses_content.

Standard AWS configuration is honoured as boto3 reads it (AWS_REGION,
credentials, profiles, AWS_ENDPOINT_URL_SESV2). SDK retries are off: a
botocore retry after a read timeout could deliver the message twice.
botocore's client-side parameter validation is off too: every request is
built here from checked parts (shared.transports.ses_content), and SES
checks it again (a 400 is a permanent failure, as a local refusal was);
walking the model for every send cost ~5% of a sender's CPU. For the same
reason SendBulkEmail's entries are written by orjson rather than by
botocore's serializer (``EntriesAsJson``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import orjson
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
)

from shared.errors import Failure, TransportError
from shared.rate.quota import Quota
from shared.settings import Settings
from shared.transports.base import BulkSend, EntryResult, Envelope, Pace, no_pace
from shared.transports.ses_content import (
    bulk_request,
    destination,
    entry_result,
    simple_content,
)

log = logging.getLogger("mailpipe.ses")

#: Error codes meaning "slow down": the message was not accepted.
THROTTLING = {
    "TooManyRequestsException",
    "Throttling",
    "ThrottlingException",
    "LimitExceededException",
}
#: The account cannot send right now; the message was not accepted.
PAUSED = {"SendingPausedException", "AccountSuspendedException"}


def classify_client_error(exc: ClientError) -> TransportError:
    """Decide, from SES's answer, whether the message may be sent again."""
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "") or str(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    text = f"SES {code or status}: {message}"
    if code in THROTTLING:
        return TransportError(text, Failure.TRANSIENT, throttled=True)
    if code in PAUSED:
        return TransportError(text, Failure.TRANSIENT, pauses_fleet=True)
    if status >= 500:
        # SES got the request and failed; it may still have queued the mail.
        return TransportError(text, Failure.AMBIGUOUS)
    return TransportError(text, Failure.PERMANENT)


class EntriesAsJson:
    """SendBulkEmail's ``BulkEmailEntries`` written into the request body by orjson.

    botocore serialises a request by walking its model node by node in
    Python: ~30 µs per bulk entry (destination, template data, three
    headers), about a seventh of a bulk sender's CPU per recipient. The
    entries ``bulk_request`` builds are only objects, lists and strings named
    as in the model, for which rest-json's body is exactly their JSON
    (orjson writes it in UTF-8, not with \\u escapes: the same JSON). So the
    entries are taken out of the parameters before botocore serialises them
    (``before-parameter-build``) and put into the body it made, before it is
    signed (``before-call``), both with the same call's ``context``.
    """

    _EMPTY = b'"BulkEmailEntries": []'

    @classmethod
    def register(cls, client) -> None:
        """Once per client, however many transports share it (``unique_id``)."""
        events = client.meta.events
        events.register("before-parameter-build.sesv2.SendBulkEmail", cls._take,
                        unique_id="mailpipe-entries-take")
        events.register("before-call.sesv2.SendBulkEmail", cls._put,
                        unique_id="mailpipe-entries-put")

    @staticmethod
    def _take(params: dict, context: dict, **_) -> None:
        context["mailpipe_entries"] = params.get("BulkEmailEntries", [])
        params["BulkEmailEntries"] = []

    @classmethod
    def _put(cls, params: dict, context: dict, **_) -> None:
        entries = context.pop("mailpipe_entries", None)
        if not entries:
            return
        body = params["body"]
        # Unescaped, the quote before the colon can only be the key's own: in
        # a JSON string every quote is escaped.
        if cls._EMPTY in body:
            params["body"] = body.replace(
                cls._EMPTY, b'"BulkEmailEntries": ' + orjson.dumps(entries), 1)
        else:  # another botocore's spacing: the slow way, still exact
            request = json.loads(body)
            request["BulkEmailEntries"] = entries
            params["body"] = json.dumps(request).encode()


class SesTransport:
    def __init__(self, client, *, bulk: bool = True) -> None:
        """``bulk``: send messages sharing a content with SendBulkEmail (MAILPIPE_SES_BULK)."""
        self.client = client
        self.bulk = bulk
        EntriesAsJson.register(client)
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
        cls, *, region: str | None = None, max_connections: int = 64, bulk: bool = True
    ) -> SesTransport:
        """A client configured the standard AWS way; ``region`` wins when given."""
        return cls(_sesv2_client(region, max_connections), bulk=bulk)

    def warm_up(self, connections: int = 1) -> None:
        """Make cheap calls (GetAccount) so that no real send is slowed by a first time.

        boto3 resolves endpoints and builds serializers on a client's first
        call, and each pooled connection costs a TCP (and TLS) handshake on
        its first request; a send delayed by either arrives at SES late,
        bunched with the next ones, and can trip SES's per-second limit. So
        ``connections`` calls run at once, one per sending thread, to open
        as many connections. Best effort: an IAM policy without
        ses:GetAccount only costs the warm-up.
        """
        def call(_) -> None:
            try:
                self.client.get_account()
            except (BotoCoreError, ClientError) as exc:
                log.debug("SES warm-up call failed (harmless): %s", exc)

        call(None)  # the first alone: it builds what the client caches
        if connections > 1:
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
        return self._call(self.client.send_email, request, pace)["MessageId"]

    @property
    def send_bulk(self):
        """SendBulkEmail (``_send_bulk``), or None when it is turned off."""
        return self._send_bulk if self.bulk else None

    def _send_bulk(self, bulk: BulkSend, pace: Pace = no_pace) -> list[EntryResult]:
        """SendBulkEmail with the content inline: one result per entry, in order.

        A call SES refused whole raises, as ``send`` does; an answer with fewer
        results than entries leaves the missing ones ambiguous.
        """
        answer = self._call(self.client.send_bulk_email, bulk_request(bulk), pace)
        results = [entry_result(r) for r in answer.get("BulkEmailEntryResults", [])]
        missing = TransportError("SES answered without a result for this entry",
                                 Failure.AMBIGUOUS)
        return (results + [missing] * len(bulk.entries))[:len(bulk.entries)]

    def _call(self, operation, request: dict, pace: Pace) -> dict:
        self._pace.call = pace
        try:
            return operation(**request)
        except ClientError as exc:
            raise classify_client_error(exc) from exc
        except ParamValidationError as exc:
            # botocore refused to build the request: nothing left.
            raise TransportError(f"SES request not valid: {exc}", Failure.PERMANENT) from exc
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
    )
