"""A native message item's extra header lines and files, checked (shared rules)."""

from __future__ import annotations

from shared.intake.attachments import Attachment, make_attachment
from shared.intake.headers import custom_headers


def headers_of(item, index: int) -> tuple[tuple[str, str], ...]:
    return custom_headers(item.headers or {}, f"messages[{index}].headers")


def attachments_of(item, index: int) -> tuple[Attachment, ...]:
    return tuple(
        make_attachment(a.filename, a.content, a.content_type, a.content_id,
                        field_name=f"messages[{index}].attachments[{n}]")
        for n, a in enumerate(item.attachments or ())
    )
