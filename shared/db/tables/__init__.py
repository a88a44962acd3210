"""Every table of mailpipe (SQLAlchemy Core), all on one ``metadata``.

The migrations (``shared/db/migrations``) are the truth for the live schema
and ``migrations/env.py`` hands this ``metadata`` to Alembic; these
declarations match what the migrations create, which
tests/shared/db/test_schema_matches_migrations.py checks. Importing this
package registers every table: ``mail`` (keys, contents, messages, events,
suppressions, templates, campaigns, recipient lists, which the console edits
as grids), ``console`` (the web console's users and sessions), ``traffic``
(the dashboard's rollups), ``guard`` (the reputation guard's windows and
pauses) and ``webhooks`` (outbound webhooks: endpoints,
the outbox, deliveries).
"""

from shared.db.tables.console import (
    AUDIT_ACTORS,
    ROLES,
    audit_log,
    console_sessions,
    console_users,
)
from shared.db.tables.guard import guard_hours, guard_pauses, guard_windows
from shared.db.tables.mail import (
    SUPPRESSION_REASONS,
    api_keys,
    attachment_blobs,
    campaign_recipients,
    campaigns,
    content_attachments,
    contents,
    event_tallies,
    events,
    idempotency_keys,
    import_cursors,
    messages,
    recipient_list_rows,
    recipient_lists,
    sending_pause,
    smtp_relays,
    suppressions,
    template_versions,
    templates,
)
from shared.db.tables.metadata import metadata
from shared.db.tables.traffic import traffic_hours, traffic_key_hours, traffic_minutes
from shared.db.tables.webhooks import webhook_deliveries, webhook_endpoints, webhook_events

__all__ = [
    "AUDIT_ACTORS", "ROLES", "SUPPRESSION_REASONS", "api_keys", "attachment_blobs", "audit_log",
    "campaign_recipients",
    "campaigns", "console_sessions", "console_users", "content_attachments",
    "contents", "event_tallies", "events", "guard_hours", "guard_pauses", "guard_windows",
    "idempotency_keys", "messages", "metadata",
    "import_cursors",
    "recipient_list_rows", "recipient_lists", "sending_pause", "smtp_relays", "suppressions",
    "template_versions", "templates", "traffic_hours", "traffic_key_hours", "traffic_minutes",
    "webhook_deliveries", "webhook_endpoints", "webhook_events",
]
