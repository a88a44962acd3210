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

from services.api.schemas.problems import detail
from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.attachments import (
    Attachment,
    attachment_problem,
    filename_problem,
    make_attachment,
)
from shared.intake.fields import Recipient, problem
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
        raise problem("base64_decode", Text("must be base64 text"))
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise problem("base64_decode", Text("is not valid base64")) from None


def _filename(value: str) -> str:
    """The door-independent rule, raised at the field (``messages[0].attachments[1].filename``)."""
    found = filename_problem(value)
    if found is not None:
        raise problem("invalid_filename", Text("the file name %(problem)s", problem=found))
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
        found = attachment_problem(self.content_type, self.content_id)
        if found is not None:
            raise problem(*found)
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


def parse(model: type[BaseModel], data: Any) -> BaseModel:
    """Validate ``data`` as ``model`` or raise InvalidRequest naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [detail(error) for error in exc.errors(include_url=False)]
        first = errors[0]
        raise InvalidRequest(
            first["code"], first["message"], field=first["field"], details=errors
        ) from None
