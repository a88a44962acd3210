"""``POST /v1/events/results``: the SNS endpoint. Verify, then hand to the recorder.

Nothing is written here: a verified notification becomes an event on the
recorder's queue, so the answer is quick and a slow database never makes SNS
retry. Anything not provably from SNS answers 403 and queues nothing.
"""

from __future__ import annotations

import base64
import binascii
import logging

import falcon
from redis.exceptions import RedisError

from shared.broker.payloads import EventBatch
from shared.broker.queues import publish_events
from shared.errors import Forbidden, Unavailable
from shared.events.ses import notification_events
from shared.events.sns import SnsHttp, SnsMessage, SnsVerificationError, SnsVerifier, loads_object
from shared.i18n import Text

log = logging.getLogger("mailpipe.api.sns")

#: SNS messages are at most 256 KB; the envelope adds a little.
MAX_BODY = 512 * 1024


def _presented_secret(req: falcon.Request) -> str | None:
    """The raw-delivery secret: ``?token=`` or the basic-auth password SNS sends."""
    token = req.get_param("token")
    if token:
        return token
    auth = req.get_header("Authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(value, validate=True).decode().partition(":")[2] or None
    except (binascii.Error, UnicodeDecodeError):
        return None


class SnsEventsResource:
    auth = False

    def __init__(self, deps, verifier: SnsVerifier, http: SnsHttp) -> None:
        self.deps = deps
        self.verifier = verifier
        self.http = http

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        raw = req.bounded_stream.read(MAX_BODY + 1)
        try:
            if len(raw) > MAX_BODY:
                raise SnsVerificationError(f"body over {MAX_BODY} bytes")
            message = self._verify(req, raw)
        except SnsVerificationError as exc:
            log.warning("refused SNS request from %s: %s", req.remote_addr, exc)
            raise Forbidden("sns_not_verified", Text("not a verified SNS message: %(problem)s",
                                                     problem=str(exc))) from None
        if message.type == "SubscriptionConfirmation":
            self._confirm(message)
            resp.media = {"confirmed": message.topic_arn}
            return
        if message.type == "UnsubscribeConfirmation":
            log.warning("SNS says topic %s unsubscribed this endpoint (message %s)",
                        message.topic_arn, message.message_id)
            resp.media = {"unsubscribed": message.topic_arn}
            return
        events = notification_events(message)
        try:
            publish_events(self.deps.broker, EventBatch(tuple(events)))
        except RedisError as exc:
            # 5xx: SNS delivers the notification again later.
            raise Unavailable("queue_unavailable", Text("cannot queue the event: %(problem)s",
                                                        problem=str(exc))) from None
        resp.media = {"accepted": len(events)}

    def _verify(self, req: falcon.Request, raw: bytes) -> SnsMessage:
        body = loads_object(raw)
        if "Signature" in body or "SignatureVersion" in body:
            return self.verifier.verify(body)
        return self.verifier.verify_raw(
            raw.decode("utf-8"),  # loads_object has refused anything else
            message_id=req.get_header("x-amz-sns-message-id"),
            topic_arn=req.get_header("x-amz-sns-topic-arn"),
            message_type=req.get_header("x-amz-sns-message-type"),
            presented_secret=_presented_secret(req),
        )

    def _confirm(self, message: SnsMessage) -> None:
        try:
            self.http.confirm_subscription(message.subscribe_url)
        except Exception as exc:  # noqa: BLE001 - any failure: SNS sends the confirmation again
            log.error("could not confirm the subscription to %s: %s", message.topic_arn, exc)
            raise Unavailable("confirmation_failed", Text(
                "could not confirm the subscription: %(problem)s", problem=str(exc))) from None
        log.info("confirmed the SNS subscription to %s", message.topic_arn)
