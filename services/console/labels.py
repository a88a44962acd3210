"""The names the console gives to states, phases, statistics, events, roles, actions and sources.

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
    # A webhook delivery's state, and why an endpoint is disabled (issue 28).
    "delivery": {
        "pending": NP_("delivery", "Waiting"), "delivering": NP_("delivery", "Delivering"),
        "delivered": NP_("delivery", "Delivered"), "failed": NP_("delivery", "Failed"),
    },
    "disabled": {
        "gone": NP_("disabled", "Disabled: the endpoint answered 410 Gone"),
        "failing": NP_("disabled", "Disabled: every delivery failed for 5 days"),
        "manual": NP_("disabled", "Disabled by its key"),
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
        "unsubscribed": NP_("stat", "Unsubscribed"), "failed": NP_("stat", "Failed"),
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
        "forbidden_page": NP_("denied", "Your role does not allow you to see this page."),
        "csrf": NP_("denied", "The form expired (security token missing or wrong). Reload "
                              "the page and try again."),
    },
    "action": {
        "pause": NP_("action", "Pause"), "resume": NP_("action", "Resume"),
        "cancel": NP_("action", "Cancel"),
    },
    "source": {
        "api": NP_("source", "API"), "biz": NP_("source", "Biz E-mail API"),
        "fureweb": NP_("source", "fureweb mailer"), "campaign": NP_("source", "Send plan"),
        "smtp": NP_("source", "SMTP"),
    },
    # Why an address is on a key's suppression list (shared.db.tables SUPPRESSION_REASONS).
    "suppression_reason": {
        "bounce": NP_("suppression_reason", "Hard bounce"),
        "complaint": NP_("suppression_reason", "Complaint"),
        "unsubscribe": NP_("suppression_reason", "Unsubscribed"),
        "manual": NP_("suppression_reason", "Added by hand"),
    },
    # SES's VerificationStatus and DkimStatus (the same five values).
    "ses_status": {
        "SUCCESS": NP_("ses_status", "Verified"), "PENDING": NP_("ses_status", "Pending"),
        "FAILED": NP_("ses_status", "Failed"),
        "TEMPORARY_FAILURE": NP_("ses_status", "Temporary failure"),
        "NOT_STARTED": NP_("ses_status", "Not started"),
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
    # The audit log's actions (shared.db.audit.record's verbs); an unknown one shows as is.
    "audit": {
        "key.create": NP_("audit", "API key created"),
        "key.change": NP_("audit", "API key changed"),
        "key.revoke": NP_("audit", "API key revoked"),
        "key.resume": NP_("audit", "API key resumed after a reputation pause"),
        "key.guard": NP_("audit", "API key's reputation guard levels changed"),
        "suppression.add": NP_("audit", "Suppressions added"),
        "suppression.remove": NP_("audit", "Suppression removed"),
        "messages.requeue": NP_("audit", "Messages requeued"),
        "person.invite": NP_("audit", "Person invited"),
        "person.create": NP_("audit", "Local account created"),
        "person.password": NP_("audit", "New password"),
        "person.role": NP_("audit", "Role changed"),
        "person.disable": NP_("audit", "Account disabled"),
        "person.enable": NP_("audit", "Account enabled"),
        "template.create": NP_("audit", "Template created"),
        "template.update": NP_("audit", "Template saved"),
        "template.restore": NP_("audit", "Template version restored"),
        "list.create": NP_("audit", "Recipient list created"),
        "list.update": NP_("audit", "Recipient list saved"),
        "list.delete": NP_("audit", "Recipient list deleted"),
        "campaign.create": NP_("audit", "Send plan created"),
        "campaign.paused": NP_("audit", "Send plan paused"),
        "campaign.active": NP_("audit", "Send plan resumed"),
        "campaign.cancelled": NP_("audit", "Send plan cancelled"),
    },
    # Every action of a kind, as the audit log's filter offers them (a prefix).
    "audit_group": {
        "key.": NP_("audit_group", "Every API key action"),
        "suppression.": NP_("audit_group", "Every suppression action"),
        "messages.": NP_("audit_group", "Every message action"),
        "person.": NP_("audit_group", "Every people action"),
        "template.": NP_("audit_group", "Every template action"),
        "list.": NP_("audit_group", "Every recipient list action"),
        "campaign.": NP_("audit_group", "Every send plan action"),
    },
    # Who acted (shared.db.tables AUDIT_ACTORS).
    "actor": {
        "console": NP_("actor", "Console"), "cli": NP_("actor", "Command line"),
        "api": NP_("actor", "API"),
    },
    # A console account's status (shared.db.people.Person.status).
    "account_status": {
        "active": NP_("account_status", "Active"), "invited": NP_("account_status", "Invited"),
        "disabled": NP_("account_status", "Disabled"),
    },
}
