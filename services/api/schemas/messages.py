"""Request validation: the one place that decides whether a body is acceptable.

Each model turns a JSON body into typed values or raises ``InvalidRequest``
with a stable code and the path of the offending field. Nothing is written
before validation passes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Base64Bytes,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.errors import InvalidRequest
from shared.intake.addresses import has_line_break, is_valid_address, normalize_mailbox
from shared.intake.text import text_problem

#: PostgreSQL BIGINT, the type of every id column: a larger number is no id.
MAX_ID = 2**63 - 1
#: Template versions are INTEGER.
MAX_VERSION = 2**31 - 1


def _recipient(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    if not is_valid_address(value):
        raise PydanticCustomError("invalid_email", "'{value}' is not a valid email address",
                                  {"value": value[:100]})
    return value


def _mailbox(value: str) -> str:
    normalized = normalize_mailbox(value)
    if normalized is None:
        raise PydanticCustomError("invalid_email", "'{value}' is not a valid email address",
                                  {"value": value[:100]})
    return normalized


def _header_safe(value: str) -> str:
    _no_nul(value)
    if has_line_break(value):
        raise PydanticCustomError("header_injection", "must not contain line breaks (CR, LF, "
                                  "VT, FF, U+001C-U+001E, U+0085, U+2028, U+2029)")
    return value


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL, psycopg cannot encode a lone surrogate:
    # refuse them here rather than fail the insert.
    problem = text_problem(value)
    if problem:
        raise PydanticCustomError("invalid_character", problem)
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise PydanticCustomError(
            "missing_timezone", "must be an RFC 3339 time with an offset, e.g. 2030-01-01T09:00:00Z"
        )
    return value


Recipient = Annotated[str, AfterValidator(_recipient)]
Mailbox = Annotated[str, AfterValidator(_mailbox)]
HeaderText = Annotated[str, Field(min_length=1, max_length=998), AfterValidator(_header_safe)]
TopicId = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_header_safe)]
BodyText = Annotated[str, AfterValidator(_no_nul)]


#: ``{{variable}}`` values: text or numbers, never nested objects.
TemplateValues = dict[str, str | int | float | bool | None]


def _field_error(field: str, code: str, message: str) -> ValidationError:
    """A validation error located at ``field`` of the model raising it (not at the model)."""
    return ValidationError.from_exception_data("MessageItem", [InitErrorDetails(
        type=PydanticCustomError(code, message), loc=(field,), input=None,
    )])


class AttachmentItem(BaseModel):
    """One file of a message: base64 ``content``; ``contentId`` makes it inline."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    filename: Annotated[str, Field(min_length=1, max_length=255)]
    content: Base64Bytes
    content_type: Annotated[str, Field(max_length=255)] | None = Field(None, alias="contentType")
    content_id: Annotated[str, Field(max_length=250)] | None = Field(None, alias="contentId")


class MessageItem(BaseModel):
    """One item of ``POST /v1/messages`` (the aws-ses-sender-go shape, extended)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=False)

    topic_id: TopicId = Field(alias="topicId")
    emails: list[Recipient] = Field(min_length=1)
    # Required unless templateId names a template, which then supplies them.
    subject: HeaderText | None = None
    content: Annotated[BodyText, Field(min_length=1)] | None = None
    scheduled_at: Annotated[datetime, AfterValidator(_aware)] | None = Field(
        None, alias="scheduledAt"
    )
    from_: Mailbox | None = Field(None, alias="from")
    #: Open pixel and click rewriting (needs MAILPIPE_SECRET_KEY); false turns it off.
    tracking: bool = True
    #: Bulk mail: carries RFC 8058 one-click List-Unsubscribe headers.
    bulk: bool = False
    text: BodyText | None = None
    reply_to: Mailbox | None = Field(None, alias="replyTo")
    template_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = Field(None, alias="templateId")
    #: Template values for every recipient, and per recipient (by address) over them.
    variables: TemplateValues | None = None
    recipient_variables: dict[str, TemplateValues] | None = Field(
        None, alias="recipientVariables"
    )
    #: Extra header lines (X-…, In-Reply-To, References); mailpipe's own are refused.
    headers: dict[str, str] | None = None
    #: Files shared by every recipient; see AttachmentItem.
    attachments: list[AttachmentItem] | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def _parts_or_template(self) -> MessageItem:
        if self.template_id is None:
            for name in ("subject", "content"):
                if getattr(self, name) is None:
                    raise _field_error(name, "missing_field",
                                       "Field required (unless templateId is given)")
            if self.variables is not None or self.recipient_variables is not None:
                name = "variables" if self.variables is not None else "recipientVariables"
                raise _field_error(name, "template_required", "needs templateId")
        else:
            for name in ("subject", "content", "text"):
                if getattr(self, name) is not None:
                    raise _field_error(name, "template_conflict",
                                       "comes from the template; leave it out with templateId")
        return self
class SuppressRequest(BaseModel):
    """``POST /v1/suppressions``."""

    model_config = ConfigDict(extra="forbid")

    emails: list[Recipient] = Field(min_length=1, max_length=10_000)




class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[MessageItem] = Field(min_length=1)


_CODES = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "too_short": "empty",
    "string_too_short": "empty",
    # pydantic's names for an unparseable time differ by input and version.
    "datetime_type": "invalid_datetime",
    "datetime_parsing": "invalid_datetime",
    "datetime_from_date_parsing": "invalid_datetime",
}


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse(model: type[BaseModel], data: Any) -> BaseModel:
    """Validate ``data`` as ``model`` or raise InvalidRequest naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {
                "code": _CODES.get(err["type"], err["type"]),
                "field": _path(err["loc"]),
                "message": f"{_path(err['loc']) or 'body'}: {err['msg']}",
            }
            for err in exc.errors(include_url=False)
        ]
        first = errors[0]
        raise InvalidRequest(
            first["code"], first["message"], field=first["field"], details=errors
        ) from None
