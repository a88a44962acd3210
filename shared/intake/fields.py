"""Value types of intake fields (pydantic ``Annotated`` types), shared by every door.

Each type checks one value and raises a located pydantic error with a stable
code (``invalid_email``, ``header_injection``, ``reserved_header`` …); the
caller's schema layer turns that into its own answer (``services.api.schemas``
into InvalidRequest). Nothing here knows which door a value came through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.intake.addresses import has_line_break, is_valid_address, normalize_mailbox
from shared.intake.headers import MAX_HEADERS, header_problem


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


def header_safe(value: str) -> str:
    if has_line_break(value):
        raise PydanticCustomError("header_injection",
                                  "must not contain line breaks (CR, LF) or NUL")
    return value


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail the insert.
    if "\x00" in value:
        raise PydanticCustomError("invalid_character", "must not contain NUL characters")
    return value


def aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise PydanticCustomError(
            "missing_timezone", "must be an RFC 3339 time with an offset, e.g. 2030-01-01T09:00:00Z"
        )
    return value


def located(model: str, loc: tuple[str | int, ...], code: str, message: str) -> ValidationError:
    """A validation error at ``loc`` below wherever it is raised (a field, not the model)."""
    return ValidationError.from_exception_data(model, [InitErrorDetails(
        type=PydanticCustomError(code, "{reason}", {"reason": message}), loc=loc, input=None,
    )])


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
        raise PydanticCustomError("too_many_headers", f"{len(pairs)} headers; the limit is "
                                  f"{MAX_HEADERS}")
    for name, text in pairs:
        problem = header_problem(name, text)
        if problem is not None:
            raise located("headers", (name[:80],), *problem)
    return pairs


Recipient = Annotated[str, AfterValidator(_recipient)]
Mailbox = Annotated[str, AfterValidator(_mailbox)]
HeaderText = Annotated[str, Field(min_length=1, max_length=998), AfterValidator(header_safe)]
TopicId = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(header_safe)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(header_safe)]
BodyText = Annotated[str, AfterValidator(_no_nul)]
When = Annotated[datetime, AfterValidator(aware)]
#: Extra header lines (X-…, In-Reply-To, References); mailpipe's own are refused.
#: Sent as a JSON object ``{name: value}`` (or ``[[name, value], ...]`` pairs).
Headers = Annotated[tuple[tuple[str, str], ...], BeforeValidator(
    _headers, json_schema_input_type=dict[str, str] | list[tuple[str, str]] | None)]
#: A row id (PostgreSQL BIGINT): a larger number names no row, and is refused here.
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]

#: ``{{variable}}`` values: text or numbers, never nested objects.
TemplateValues = dict[str, str | int | float | bool | None]
