"""Field types the compat APIs (Biz E-mail API, fureweb mailer) share, and their parse.

Their clients send loosely typed bodies (JSON or form text), so each type is
one validating function behind pydantic's ``PlainValidator``; a failure is a
pydantic error (``shared.intake.fields.problem``) that ``parse`` turns into
``InvalidRequest`` naming the field, and each compat API's error handler
maps that to its code table.

``addresses`` is the one address parser of both APIs: ``a@b``, ``<a@b>`` or
``Name <a@b>`` (the name kept for the To and Cc headers), one text or a JSON
list of texts; the Biz API also takes comma-separated lists in one text.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import getaddresses
from functools import partial
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, PlainValidator

from services.api.schemas.messages import parse
from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.addresses import (
    AddressError,
    NamedAddress,
    checked_name,
    has_line_break,
    is_valid_address,
    normalize_mailbox,
    parse_mailbox,
)
from shared.intake.fields import problem as _error


def addresses(value: Any, *, lists: bool) -> tuple[NamedAddress, ...]:
    """The addresses in ``value`` with their display names; with ``lists``, a text may
    name several (``<a@b>,"Kim, Minsu" <c@d>,``: the trailing comma is fine), otherwise
    each names one."""
    if value is None or value == [] or (lists and value == ""):
        return ()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise _error("string_type", Text("must be an address or a list of addresses"))
    if any(has_line_break(item) for item in items):
        raise _error("header_injection", Text("must not contain line breaks"))
    found = []
    try:
        for item in items:
            if not lists:
                found.append(parse_mailbox(item))
                continue
            for name, address in getaddresses([item]):
                if not (name or address):
                    continue
                if not is_valid_address(address):
                    raise _error("invalid_email", Text("%(value)r is not an email address",
                                                        value=(address or name)[:100]))
                found.append(NamedAddress(address, checked_name(name)))
    except AddressError as exc:
        raise _error(exc.code, exc.text) from None
    return tuple(found)


def text(value: Any, *, header: bool) -> str | None:
    """Text as compat clients send it: empty or null is absent (None)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _error("string_type", Text("must be text"))
    if "\x00" in value or (header and has_line_break(value)):
        raise _error("header_injection", Text("must not contain line breaks or NUL"))
    return value


def mailbox(value: Any) -> str:
    """``a@b``, ``<a@b>`` or ``Name <a@b>``, header-safe."""
    found = normalize_mailbox(value) if isinstance(value, str) else None
    if found is None:
        raise _error("invalid_email", Text("not an email address"))
    return found


def flag(value: Any, *, default: bool | None) -> bool:
    """A JSON boolean, or the text true/false (forms); ``default`` None: required."""
    if value is None or value == "":
        if default is None:
            raise _error("missing_field", Text("required (true or false)"))
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "y", "n"):
        return value.strip().lower() in ("true", "1", "y")
    raise _error("invalid_boolean", Text("must be true or false"))


def _present(value: Any) -> Any:
    if not value:
        raise _error("missing_field", Text("required"))
    return value


Required = AfterValidator(_present)
# json_schema_input_type: what the OpenAPI description says each takes.
_ADDRESSES = str | list[str] | None
ListedAddresses = Annotated[tuple[NamedAddress, ...], PlainValidator(
    partial(addresses, lists=True), json_schema_input_type=_ADDRESSES)]
OneAddressEach = Annotated[tuple[NamedAddress, ...], PlainValidator(
    partial(addresses, lists=False), json_schema_input_type=_ADDRESSES)]
BodyText = Annotated[str | None, PlainValidator(partial(text, header=False),
                                                json_schema_input_type=str | None)]
HeaderText = Annotated[str | None, PlainValidator(partial(text, header=True),
                                                  json_schema_input_type=str | None)]
Mailbox = Annotated[str, PlainValidator(mailbox, json_schema_input_type=str)]


def parse_first(model: type[BaseModel], data: Any,
                first: Callable[[list[dict]], dict] = lambda errors: errors[0]) -> BaseModel:
    """``parse`` (the native schema layer's), raising the error ``first`` picks.

    pydantic reports every bad field; a compat API answers one code, so the
    one its server would have reported first is chosen.
    """
    try:
        return parse(model, data)
    except InvalidRequest as exc:
        chosen = first(exc.details or [exc.to_dict()])
        raise InvalidRequest(chosen["code"], chosen["message"], field=chosen["field"],
                             details=exc.details) from None
