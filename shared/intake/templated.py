"""``POST /v1/messages`` with a ``templateId``: the template's parts and each recipient's values.

Resolved before anything is written, so a recipient without a value for a
variable the template uses is refused with the request, by name, and
nothing is stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine

from shared.db.templates import get_template
from shared.errors import InvalidRequest
from shared.rendering.mustache import recipient_values


@dataclass(frozen=True)
class TemplateUse:
    """What a request item says about its template, and (once resolved) what it will send."""

    template_id: int
    #: Values for every recipient of the item.
    variables: Mapping[str, Any]
    #: Values for one recipient (by address, any case), over ``variables``.
    recipient_variables: Mapping[str, Mapping[str, Any]]
    #: Set by ``resolve_templates``: the version used and, by lower-cased
    #: address, the JSON of each recipient's values.
    version: int | None = None
    values: Mapping[str, str] | None = None

    def values_for(self, recipients: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(self.values[address.lower()] for address in recipients)


def resolve_templates(engine: Engine, api_key_id: int, items: list) -> list:
    """``items`` (``MessageRequest``s) with each template's current version applied.

    Raises InvalidRequest naming the item and field when the template does
    not exist, and naming the recipient and the variable when a value is
    missing or unusable.
    """
    if not any(item.template is not None for item in items):
        return items
    resolved = []
    with engine.connect() as conn:
        for index, item in enumerate(items):
            use = item.template
            if use is None:
                resolved.append(item)
                continue
            template = get_template(conn, api_key_id, use.template_id)
            if template is None:
                raise InvalidRequest(
                    "template_not_found",
                    f"messages[{index}].templateId: no template {use.template_id} for this API "
                    "key", field=f"messages[{index}].templateId",
                )
            values = _values(index, item.recipients, use, template.variables,
                             template.source.subject_variables())
            resolved.append(replace(
                item, subject=template.subject, html=template.html, text=template.text,
                template=replace(use, version=template.version, values=values),
            ))
    return resolved


def _values(index: int, recipients: list[str], use: TemplateUse, variables: list[str],
            subject_variables: set[str]) -> dict[str, str]:
    per_recipient = {address.lower(): given for address, given in use.recipient_variables.items()}
    known = {address.lower() for address in recipients}
    for address in per_recipient:
        if address not in known:
            raise InvalidRequest(
                "unknown_recipient",
                f"messages[{index}].recipientVariables: {address} is not one of the emails",
                field=f"messages[{index}].recipientVariables",
            )
    values = {}
    for address in recipients:
        given = {**use.variables, **per_recipient.get(address.lower(), {})}
        try:
            checked = recipient_values(variables, subject_variables, given, address,
                                       f"messages[{index}]")
        except InvalidRequest as exc:
            exc.field = f"messages[{index}].recipientVariables"
            raise
        values[address.lower()] = json.dumps(checked, ensure_ascii=False)
    return values
