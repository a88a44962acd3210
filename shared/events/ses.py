"""SES notifications (both formats) as mailpipe events.

SES reports through SNS in two shapes:

- event publishing (a configuration set's SNS destination): ``eventType`` is
  Send, Delivery, Bounce, Complaint, Reject, Open, Click, Rendering Failure,
  DeliveryDelay or Subscription;
- identity notifications (feedback forwarding set on the identity):
  ``notificationType`` is Bounce, Complaint or Delivery.

Both carry ``mail.messageId`` (the id SES returned to the sender, stored on
``messages.provider_message_id``) and one object with the details, whose
name this module knows per type.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from shared.broker.payloads import Event, EventType
from shared.events.sns import SnsMessage

log = logging.getLogger("mailpipe.sns")

#: SES's name for the event → (our type, the key of its details object).
SES_TYPES: dict[str, tuple[EventType, str]] = {
    "Send": (EventType.SENT, "send"),
    "Delivery": (EventType.DELIVERED, "delivery"),
    "Bounce": (EventType.BOUNCED, "bounce"),
    "Complaint": (EventType.COMPLAINED, "complaint"),
    "Reject": (EventType.REJECTED, "reject"),
    "Open": (EventType.OPENED, "open"),
    "Click": (EventType.CLICKED, "click"),
    "Rendering Failure": (EventType.RENDERING_FAILED, "failure"),
    "DeliveryDelay": (EventType.DELAYED, "deliveryDelay"),
    "Subscription": (EventType.SUBSCRIPTION, "subscription"),
}


def _time(value: object, fallback: float) -> float:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    return fallback


def _detail(event_type: EventType, details: dict) -> str | None:
    """The one fact stats and state changes need from the details object."""
    if event_type is EventType.BOUNCED:
        # Only Permanent bounces are hard: Transient and Undetermined may
        # succeed another day, so they must not suppress the address.
        return "hard" if details.get("bounceType") == "Permanent" else "soft"
    if event_type is EventType.CLICKED:
        return details.get("link")
    if event_type is EventType.REJECTED:
        return details.get("reason")
    if event_type is EventType.DELAYED:
        return details.get("delayType")
    if event_type is EventType.COMPLAINED:
        return details.get("complaintFeedbackType")
    if event_type is EventType.RENDERING_FAILED:
        return details.get("errorMessage")
    return None


def ses_event(notification: dict, *, sns_message_id: str, sns_timestamp: float) -> Event | None:
    """The event an SES notification reports, or None when it reports none we know.

    SES also publishes set-up notices (``AmazonSnsSubscriptionSucceeded``)
    on the same topics: those give None.
    """
    name = notification.get("eventType") or notification.get("notificationType")
    if not isinstance(name, str) or name not in SES_TYPES:
        return None
    event_type, key = SES_TYPES[name]
    mail = notification.get("mail") if isinstance(notification.get("mail"), dict) else {}
    details = notification.get(key) if isinstance(notification.get(key), dict) else {}
    provider_id = mail.get("messageId")
    detail = _detail(event_type, details)
    return Event(
        type=event_type,
        at=_time(details.get("timestamp") or mail.get("timestamp"), sns_timestamp),
        provider_message_id=provider_id if isinstance(provider_id, str) else None,
        sns_message_id=sns_message_id,
        detail=str(detail)[:2000] if detail is not None else None,
        payload=notification,
    )


def notification_events(message: SnsMessage) -> list[Event]:
    """The events in a verified SNS Notification; [] for anything that is not SES's."""
    try:
        notification = json.loads(message.message)
    except (ValueError, RecursionError):
        notification = None
    if not isinstance(notification, dict):
        log.warning("SNS message %s on %s is not an SES notification; ignored",
                    message.message_id, message.topic_arn)
        return []
    event = ses_event(notification, sns_message_id=message.message_id,
                      sns_timestamp=message.timestamp)
    if event is None:
        log.info("SNS message %s: SES notice %r recorded nothing", message.message_id,
                 notification.get("eventType") or notification.get("notificationType"))
        return []
    return [event]
