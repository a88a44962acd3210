"""Every outbound event type: when it is sent, and an example of its ``data``.

One catalogue for the reference (``docs/webhooks.md``, generated from it by
``python -m scripts.webhooks_doc``) and the OpenAPI ``webhooks`` section.
tests/shared/webhooks/test_catalogue.py checks every example against the data
the writers really put in the outbox (``shared.db.outbox``, ``shared.guard``),
key for key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shared.webhooks.events import OutboundEventType as T

#: When the examples happened.
EXAMPLE_AT = datetime(2030, 6, 1, 9, 0, 5, 123000, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    #: What happened (Markdown).
    when: str
    #: An example of the envelope's ``data``.
    data: dict


#: What every message event's data holds (``shared.db.outbox.MESSAGE_DATA``).
MESSAGE = {"messageId": 1042, "topicId": "welcome", "recipient": "ann@example.com",
           "providerMessageId": "0100018f-ses", "campaignId": None}
_UNSENT = {**MESSAGE, "providerMessageId": None}

_FIGURES = {"reason": "bounce", "window": "recent", "rate": 0.052, "threshold": 0.04,
            "sent": 1000.0, "hard_bounced": 52.0, "complained": 0.0}

CATALOGUE: dict[T, Entry] = {
    T.MESSAGE_SENT: Entry(
        "SES (or the key's SMTP relay) accepted the message. `providerMessageId` is "
        "SES's id for it.", MESSAGE),
    T.MESSAGE_DELIVERED: Entry(
        "The recipient's server accepted it (SES's Delivery event).",
        {**MESSAGE, "smtpResponse": "250 2.0.0 OK"}),
    T.MESSAGE_DELIVERY_DELAYED: Entry(
        "SES could not deliver it yet and keeps trying (SES's DeliveryDelay event).",
        {**MESSAGE, "delayType": "MailboxFull", "diagnostic": "452 4.2.2 mailbox full"}),
    T.MESSAGE_BOUNCED: Entry(
        "It bounced: `bounceType` `hard` (permanent: the address is now on the key's "
        "suppression list) or `soft`, with SES's sub-type and diagnostic.",
        {**MESSAGE, "bounceType": "hard", "bounceSubType": "General",
         "diagnostic": "smtp; 550 5.1.1 user unknown"}),
    T.MESSAGE_COMPLAINED: Entry(
        "The recipient marked it as spam (the address is now suppressed).",
        {**MESSAGE, "feedbackType": "abuse"}),
    T.MESSAGE_FAILED: Entry(
        "Refused for good (by SES, at once or by a later Reject), or its retries ran out. "
        "Never resent.",
        {**_UNSENT, "error": "MessageRejected: Email address is not verified."}),
    T.MESSAGE_UNKNOWN: Entry(
        "Its send was interrupted (a timeout, a sender that stopped mid-send): whether SES "
        "accepted it is not known, and it is not resent automatically. A "
        "`message.sent` may still follow, when a late answer says it was.",
        {**_UNSENT, "error": "lease expired while sending (worker sender-1): SES may or may "
                             "not have accepted it; not resent automatically"}),
    T.MESSAGE_SUPPRESSED: Entry(
        "Not sent: the address is on the key's suppression list (at intake, when a "
        "campaign reached it, or just before its send).",
        {**_UNSENT, "error": "the address is on this key's suppression list (bounce)"}),
    T.MESSAGE_OPENED: Entry(
        "The tracking pixel was loaded. `machine`: by a mail prefetcher or scanner, "
        "not a person (reported, not dropped).", {**MESSAGE, "machine": False}),
    T.MESSAGE_CLICKED: Entry(
        "A tracked link was followed. `machine`: by a link scanner, not a person "
        "(reported, not dropped).",
        {**MESSAGE, "url": "https://shop.example/o/12", "machine": False}),
    T.MESSAGE_UNSUBSCRIBED: Entry(
        "The recipient unsubscribed with the message's link, and the address was added to "
        "the key's suppression list (once: a second click is no event).", MESSAGE),
    T.CAMPAIGN_COMPLETED: Entry(
        "The campaign's last message reached an end state (sent or beyond, failed, unknown, "
        "suppressed or cancelled): once per campaign. Its figures: "
        "`GET /v1/campaigns/{id}`.",
        {"campaignId": 7, "topicId": "june", "name": "June newsletter", "total": 1200,
         "duplicates": 3}),
    T.KEY_PAUSED: Entry(
        "The reputation guard paused the key's sending (`scope` `key`) or its "
        "campaigns' (`campaigns`): past a bounce or complaint level.",
        {"keyId": 3, "topicId": None, "scope": "key", "reason": "bounce",
         "pausedAt": "2030-06-01T09:00:05.123000+00:00", "figures": _FIGURES}),
    T.TOPIC_PAUSED: Entry(
        "The reputation guard paused one topic of the key.",
        {"keyId": 3, "topicId": "june", "scope": "topic", "reason": "bounce",
         "pausedAt": "2030-06-01T09:00:05.123000+00:00", "figures": _FIGURES}),
    T.WEBHOOK_TEST: Entry(
        "Sent on request (`POST /v1/webhooks/{id}/test`), to try an endpoint.",
        {"webhookId": 5, "message": "a test event sent on request"}),
}
