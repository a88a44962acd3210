"""Request validation: the one place that decides whether a body is acceptable.

Each model turns a JSON body into typed values or raises ``InvalidRequest``
with a stable code and the path of the offending field. Nothing is written
before validation passes. The fields and their checks are declared once in
``shared.intake.requests`` and ``shared.intake.fields``; the models here give
them their JSON names (and files their base64 form).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from shared.errors import InvalidRequest
from shared.intake.attachments import (
    Attachment,
    attachment_problem,
    filename_problem,
    make_attachment,
)
from shared.intake.fields import Recipient
from shared.intake.requests import MessageRequest

#: Fields whose JSON name is not their name in camelCase.
_NAMES = {"recipients": "emails", "html": "content", "from_addr": "from"}


def json_name(field: str) -> str:
    """A field's name in the native API's JSON bodies (``topicId``, ``emails``, ``from``)."""
    return _NAMES.get(field) or to_camel(field)


#: The native API's JSON naming; the fields themselves are shared.intake.requests'.
WIRE = ConfigDict(alias_generator=json_name, populate_by_name=True)


def _base64(value: Any) -> bytes:
    """Standard base64 (line breaks allowed, as MIME writes it); anything else is refused,
    not decoded to fewer or no bytes."""
    if not isinstance(value, str):
        raise PydanticCustomError("base64_decode", "must be base64 text")
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError("base64_decode", "is not valid base64") from None


def _filename(value: str) -> str:
    """The door-independent rule, raised at the field (``messages[0].attachments[1].filename``)."""
    problem = filename_problem(value)
    if problem is not None:
        raise PydanticCustomError("invalid_filename", "the file name {reason}",
                                  {"reason": problem})
    return value


class AttachmentItem(BaseModel):
    """One file of a message: base64 ``content``; ``contentId`` makes it inline."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    filename: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_filename)]
    content: Annotated[bytes, BeforeValidator(_base64)]
    content_type: Annotated[str, Field(max_length=255)] | None = Field(None, alias="contentType")
    content_id: Annotated[str, Field(max_length=250)] | None = Field(None, alias="contentId")

    @model_validator(mode="after")
    def _usable(self) -> AttachmentItem:
        problem = attachment_problem(self.content_type, self.content_id)
        if problem is not None:
            raise PydanticCustomError(problem[0], "{reason}", {"reason": problem[1]})
        return self

    def attachment(self) -> Attachment:
        return make_attachment(self.filename, self.content, self.content_type, self.content_id)


_FILES = TypeAdapter(Annotated[list[AttachmentItem], Field(max_length=100)])


def _files(value: Any) -> tuple[Attachment, ...]:
    """``[{filename, content, contentType?, contentId?}]`` as checked files."""
    if value is None:
        return ()
    return tuple(item.attachment() for item in _FILES.validate_python(value))


class MessageItem(MessageRequest):
    """One item of ``POST /v1/messages`` (the aws-ses-sender-go shape, extended):
    a MessageRequest under its JSON names, files sent as base64."""

    model_config = WIRE

    attachments: Annotated[tuple[Attachment, ...], BeforeValidator(
        _files, json_schema_input_type=list[AttachmentItem] | None)] = ()


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
