"""Value types of intake fields (pydantic ``Annotated`` types), shared by every door.

Each type checks one value and raises a located pydantic error with a stable
code (``invalid_email``, ``header_injection``, ``reserved_header`` …) and the
reason as a ``Text`` (``problem``); the caller's schema layer turns that into
its own answer (``services.api.schemas`` into InvalidRequest). Nothing here
knows which door a value came through.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.i18n import Text
from shared.intake.addresses import (
    AddressError,
    NamedAddress,
    has_line_break,
    parse_mailbox,
)
from shared.intake.headers import MAX_HEADERS, header_problem
from shared.intake.text import text_problem


def problem(code: str, reason: Text) -> PydanticCustomError:
    """A pydantic error with a stable ``code``, its ``reason`` translated where it is shown
    (``services.api.schemas.messages.parse`` reads it back from the error's context)."""
    return PydanticCustomError(code, "{reason}", {"reason": reason})


def _recipient(value: str) -> str:
    """The bare address of ``a@b``, ``<a@b>`` or ``Name <a@b>`` (as Go's
    net/mail.ParseAddress, which aws-ses-sender-go used, accepts), where only the
    address matters (a suppression)."""
    return _addressee(value).address


def _addressee(value: Any) -> NamedAddress:
    """``a@b``, ``<a@b>`` or ``Name <a@b>`` as the address and the name it was given with."""
    if isinstance(value, NamedAddress):
        return value
    if not isinstance(value, str):
        raise problem("string_type", Text("must be an email address as text"))
    try:
        return parse_mailbox(value)
    except AddressError as exc:
        raise problem(exc.code, exc.text) from None


def _mailbox(value: str) -> str:
    """A sender or Reply-To as mailbox text (``Shop <news@shop.example>``), name kept."""
    return str(_addressee(value))


def header_safe(value: str) -> str:
    _no_nul(value)
    if has_line_break(value):
        raise problem("header_injection", Text(
            "must not contain line breaks (CR, LF, VT, FF, U+001C-U+001E, U+0085, U+2028, "
            "U+2029)"))
    return value


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL, psycopg cannot encode a lone surrogate:
    # refuse them here rather than fail the insert.
    found = text_problem(value)
    if found:
        raise problem("invalid_character", found)
    return value


def _rfc3339_text(value: Any) -> Any:
    """A time must be RFC 3339 text: a number would be read as seconds since 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise problem("invalid_datetime", Text(
            "must be an RFC 3339 time as a string, e.g. 2030-01-01T09:00:00Z"))
    return value


def _empty_is_now(value: Any) -> Any:
    """``""`` means "now": the Go clients send their zero value for an unset time."""
    return None if value == "" else value


_DIGITS = re.compile(r"[0-9]+")


def _ascii_digits(value: Any) -> Any:
    """A number given as text (a query string, a form field) must be ASCII digits: pydantic,
    like ``int()``, would also read ``١``, `` 1``, ``+1``, ``1_0`` and ``1.0``."""
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise problem("int_parsing", Text("must be an integer in ASCII digits 0-9"))
    return value


def aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise problem("missing_timezone", Text(
            "must be an RFC 3339 time with an offset, e.g. 2030-01-01T09:00:00Z"))
    return value


def located(model: str, loc: tuple[str | int, ...], code: str, message: Text
            ) -> ValidationError:
    """A validation error at ``loc`` below wherever it is raised (a field, not the model)."""
    return ValidationError.from_exception_data(model, [InitErrorDetails(
        type=problem(code, message), loc=loc, input=None)])


_HEADER_MAP = TypeAdapter(dict[str, str])
_HEADER_PAIRS = TypeAdapter(tuple[tuple[str, str], ...])


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    """A JSON object (or ``(name, value)`` pairs) of extra header lines, checked."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        pairs = _HEADER_PAIRS.validate_python(value)
    else:
        pairs = tuple(_HEADER_MAP.validate_python(value).items())
    if len(pairs) > MAX_HEADERS:
        raise problem("too_many_headers", Text("%(count)s headers; the limit is %(max)s",
                                               count=len(pairs), max=MAX_HEADERS))
    for name, text in pairs:
        refused = header_problem(name, text)
        if refused is not None:
            raise located("headers", (name[:80],), *refused)
    return pairs


Recipient = Annotated[str, AfterValidator(_recipient)]
#: A recipient whose display name is kept: written in the To header, matched by address.
Addressee = Annotated[NamedAddress, PlainValidator(_addressee, json_schema_input_type=str),
                      PlainSerializer(str, return_type=str)]
Mailbox = Annotated[str, AfterValidator(_mailbox)]
HeaderText = Annotated[str, Field(min_length=1, max_length=998), AfterValidator(header_safe)]
TopicId = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(header_safe)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(header_safe)]
BodyText = Annotated[str, AfterValidator(_no_nul)]
When = Annotated[datetime, BeforeValidator(_rfc3339_text), AfterValidator(aware)]
#: An optional time where ``""`` (or null, or leaving it out) means now.
WhenOrNow = Annotated[When | None, BeforeValidator(_empty_is_now)]
#: Extra header lines (X-…, In-Reply-To, References); mailpipe's own are refused.
#: Sent as a JSON object ``{name: value}`` (or ``[[name, value], ...]`` pairs).
Headers = Annotated[tuple[tuple[str, str], ...], BeforeValidator(
    _headers, json_schema_input_type=dict[str, str] | list[tuple[str, str]] | None)]
#: A row id (PostgreSQL BIGINT): a larger number names no row, and is refused here.
RowId = Annotated[int, BeforeValidator(_ascii_digits), Field(ge=1, le=2**63 - 1)]

#: ``{{variable}}`` values: text or numbers, never nested objects.
TemplateValues = dict[str, str | int | float | bool | None]
