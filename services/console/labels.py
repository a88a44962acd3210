"""The names the console gives to states, phases, statistics, events, roles and actions.

Kept as tables of English msgids marked with their context (``NP_``): the
same English word can need different Korean ("Sent" as a message's state is
발송 완료, as a count 발송). Pages show them with ``label(kind, value)``.
"""

from __future__ import annotations

from shared.i18n import NP_

LABELS: dict[str, dict[str, str]] = {
    "state": {
        "pending": NP_("state", "Pending"), "created": NP_("state", "Created"),
        "queued": NP_("state", "Queued"), "sending": NP_("state", "Sending"),
        "sent": NP_("state", "Sent"), "delivered": NP_("state", "Delivered"),
        "bounced": NP_("state", "Bounced"), "complained": NP_("state", "Complained"),
        "failed": NP_("state", "Failed"), "unknown": NP_("state", "Unknown"),
        "cancelled": NP_("state", "Cancelled"), "suppressed": NP_("state", "Suppressed"),
    },
    "phase": {
        "scheduled": NP_("phase", "Scheduled"), "expanding": NP_("phase", "Preparing"),
        "sending": NP_("phase", "Sending"), "completed": NP_("phase", "Completed"),
        "paused": NP_("phase", "Paused"), "cancelled": NP_("phase", "Cancelled"),
    },
    "stat": {
        "sent": NP_("stat", "Sent"), "delivered": NP_("stat", "Delivered"),
        "bounced": NP_("stat", "Bounced"), "complained": NP_("stat", "Complained"),
        "opened": NP_("stat", "Opened (unique)"), "clicked": NP_("stat", "Clicked (unique)"),
        "unsubscribed": NP_("stat", "Unsubscribed"),
    },
    "event": {
        "sent": NP_("event", "Sent"), "delivered": NP_("event", "Delivered"),
        "bounced": NP_("event", "Bounced"), "complained": NP_("event", "Complained"),
        "rejected": NP_("event", "Rejected"), "delayed": NP_("event", "Delayed"),
        "rendering_failed": NP_("event", "Rendering failed"),
        "subscription": NP_("event", "Subscription"), "opened": NP_("event", "Opened"),
        "clicked": NP_("event", "Clicked"), "unsubscribed": NP_("event", "Unsubscribed"),
    },
    "role": {
        "admin": NP_("role", "admin"), "editor": NP_("role", "editor"),
        "viewer": NP_("role", "viewer"),
    },
    "denied": {
        "sign_in": NP_("denied", "Please sign in."),
        "session_expired": NP_("denied", "Your session has expired. Please sign in again."),
        "forbidden": NP_("denied", "Your role does not allow this change."),
        "csrf": NP_("denied", "The form expired (security token missing or wrong). Reload "
                              "the page and try again."),
    },
    "action": {
        "pause": NP_("action", "Pause"), "resume": NP_("action", "Resume"),
        "cancel": NP_("action", "Cancel"),
    },
    # SES GetAccount's EnforcementStatus, and its production-access review (ReviewDetails).
    "enforcement": {
        "HEALTHY": NP_("enforcement", "Healthy"),
        "PROBATION": NP_("enforcement", "Under review (probation)"),
        "SHUTDOWN": NP_("enforcement", "Shut down"),
    },
    "review": {
        "PENDING": NP_("review", "being reviewed"), "GRANTED": NP_("review", "granted"),
        "DENIED": NP_("review", "denied"), "FAILED": NP_("review", "failed"),
    },
}
