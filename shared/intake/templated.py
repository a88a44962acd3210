"""``POST /v1/messages`` with a ``templateId``: the template's parts and each recipient's values.

Resolved before anything is written, so a recipient without a value for a
variable the template uses is refused with the request, by name, and
nothing is stored.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from shared.db.templates import get_template
from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.requests import MessageRequest
from shared.rendering.mustache import recipient_values


def resolve_templates(engine: Engine, api_key_id: int,
                      items: list[MessageRequest]) -> list[MessageRequest]:
    """``items`` with each named template's current version and values pinned.

    Raises InvalidRequest naming the item and field when the template does
    not exist, and naming the recipient and the variable when a value is
    missing or unusable.
    """
    if not any(item.template_id is not None for item in items):
        return items
    resolved = []
    with engine.connect() as conn:
        for index, item in enumerate(items):
            if item.template_id is None:
                resolved.append(item)
                continue
            template = get_template(conn, api_key_id, item.template_id)
            if template is None:
                field = f"messages[{index}].templateId"
                raise InvalidRequest("template_not_found", Text(
                    "%(field)s: no template %(id)s for this API key", field=field,
                    id=item.template_id), field=field)
            values = _values(index, item, template.variables,
                             template.source.subject_variables())
            resolved.append(item.with_template(template.version, template.subject,
                                               template.html, template.text, values))
    return resolved


def _values(index: int, item: MessageRequest, variables: list[str],
            subject_variables: set[str]) -> dict[str, str]:
    """Each recipient's checked values as JSON, by lower-cased address."""
    shared: dict[str, Any] = item.variables or {}
    per_recipient = {address.lower(): given
                     for address, given in (item.recipient_variables or {}).items()}
    known = {recipient.key for recipient in item.recipients}
    field = f"messages[{index}].recipientVariables"
    for address in per_recipient:
        if address not in known:
            raise InvalidRequest("unknown_recipient", Text(
                "%(field)s: %(address)s is not one of the emails", field=field,
                address=address), field=field)
    values = {}
    for recipient in item.recipients:
        given = {**shared, **per_recipient.get(recipient.key, {})}
        try:
            checked = recipient_values(variables, subject_variables, given, recipient.address,
                                       f"messages[{index}]")
        except InvalidRequest as exc:
            exc.field = field
            raise
        values[recipient.key] = json.dumps(checked, ensure_ascii=False)
    return values
