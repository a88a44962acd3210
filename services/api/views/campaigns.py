"""How templates and campaigns are shown in API answers (camelCase, RFC 3339 times)."""

from __future__ import annotations

from datetime import datetime

from shared.db.campaigns import CampaignRow
from shared.db.templates import TemplateRow


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def template_view(row: TemplateRow) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "subject": row.subject,
        "html": row.html,
        "text": row.text,
        "variables": row.variables,
        "createdAt": _time(row.created_at),
        "updatedAt": _time(row.updated_at),
    }


def template_summary(row: TemplateRow) -> dict:
    """A list entry: no bodies."""
    return {key: value for key, value in template_view(row).items()
            if key not in ("html", "text")}


def campaign_view(row: CampaignRow, progress: dict | None = None) -> dict:
    view = {
        "id": row.id,
        "name": row.name,
        "topicId": row.topic_id,
        "templateId": row.template_id,
        "templateVersion": row.template_version,
        "from": row.from_addr,
        #: What the operator set: active, paused or cancelled.
        "state": row.status,
        "scheduledAt": _time(row.scheduled_at),
        "total": row.total,
        "duplicates": row.duplicates,
        "expanded": row.expanded,
        "createdAt": _time(row.created_at),
        "updatedAt": _time(row.updated_at),
    }
    if progress is not None:
        # scheduled, expanding, sending, completed (or the paused/cancelled state)
        view["phase"] = progress["phase"]
        # Recipients per message state, like /v1/topics: total == sum(status).
        view["status"] = progress["status"]
    return view
