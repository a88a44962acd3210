"""Path and query values of the native API: integers, and values that cannot be stored.

Integers in a query string (``?hours=``, ``?limit=``, ``?after=``, …) are read
with ``int_param`` only: ASCII digits, with a leading ``-`` only where the
bounds allow a negative, one value. falcon's ``get_param_as_int`` uses
Python's ``int()``, which also reads ``١`` (an Arabic-Indic digit), `` 1``
(``%201``), ``+1`` and ``1_0`` as numbers: a value the caller did not mean
would be served as if they had. Anything but such an integer within the
bounds, once, is falcon's ``HTTPInvalidParam``, which ``services.api.errors``
answers as a 400 naming the parameter.

falcon decodes ``%00`` into a NUL in a path segment (``/v1/topics/a%00b``)
or a query value (``?after=%00``); PostgreSQL text cannot hold one, so it
would fail the query as a server error: ``TextParamsMiddleware`` refuses it
before routing. (Undecodable bytes such as ``%ED%A0%80`` already come out as
U+FFFD, never as a lone surrogate.) Only ``/v1/`` paths: the compat routes
read no query and answer errors in their own shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import falcon

from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.text import text_problem

#: PostgreSQL BIGINT, the type of every row id: a larger id names no row.
MAX_ID = 2**63 - 1
#: PostgreSQL INTEGER, the type of a template's version number.
MAX_VERSION = 2**31 - 1
#: A route field holding a row id (``/v1/templates/{template_id:ID_FIELD}``): the
#: ``IdConverter`` that ``create_app`` registers under this name.
ID_FIELD = "row_id"

#: Matched with ``fullmatch``: ``$`` would also match before a trailing newline.
_UNSIGNED = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"-?[0-9]+")


def int_param(req: falcon.Request, name: str, *, min_value: int, max_value: int,
              default: int | None = None) -> int | None:
    """The query parameter ``name`` as an int within the bounds, or ``default`` when absent.

    Raises falcon.HTTPInvalidParam (a 400 naming ``name``) for anything else.
    """
    return int_value(req.params, name, min_value=min_value, max_value=max_value,
                     default=default)


def int_value(values: Mapping[str, str | list[str]], name: str, *, min_value: int,
              max_value: int, default: int | None = None) -> int | None:
    """``int_param`` over parsed parameters (a query string, or form fields beside it)."""
    raw = values.get(name)
    if raw is None:
        return default
    if isinstance(raw, list):
        # Which one was meant? falcon would take the last; a silent choice hides the mistake.
        raise falcon.HTTPInvalidParam("It may not have more than one value.", name)
    pattern = _SIGNED if min_value < 0 else _UNSIGNED
    if not pattern.fullmatch(raw):
        sign = "an optional '-' and " if min_value < 0 else ""
        raise falcon.HTTPInvalidParam(f"The value must be an integer: {sign}ASCII digits 0-9 "
                                      "only.", name)
    # Digits past the bound's own length are out of range whatever they are (and int() of
    # more than 4300 digits raises).
    if len(raw.lstrip("-").lstrip("0")) > len(str(max(abs(min_value), abs(max_value)))):
        raise falcon.HTTPInvalidParam(_bounds(min_value, max_value), name)
    value = int(raw)
    if not min_value <= value <= max_value:
        raise falcon.HTTPInvalidParam(_bounds(min_value, max_value), name)
    return value


class IdConverter(falcon.routing.BaseConverter):
    """A row id in a path: ASCII digits for 1..MAX_ID, else the route does not match (404).

    falcon's ``int`` converter uses ``int()``, which would serve ``/v1/messages/١`` or
    ``/v1/messages/+1`` as message 1.
    """

    def convert(self, value: str) -> int | None:
        return row_id(value)


def row_id(value: str) -> int | None:
    """``value`` as a row id (ASCII digits for 1..MAX_ID), else None: never ``int()`` of
    whatever ``str.isdigit`` admits ('²' is a digit to it, and ``int('²')`` raises)."""
    if not _UNSIGNED.fullmatch(value) or len(value.lstrip("0")) > len(str(MAX_ID)):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


def _bounds(min_value: int, max_value: int) -> str:
    return f"The value must be between {min_value} and {max_value}."


class TextParamsMiddleware:
    """400 naming the path or the query parameter that holds a NUL."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.path.startswith("/v1/"):
            return
        problem = text_problem(req.path)
        if problem:
            raise InvalidRequest("invalid_character", Text("path: %(problem)s", problem=problem),
                                 field="path")
        for name, value in req.params.items():
            for one in value if isinstance(value, list) else [value]:
                problem = text_problem(name) or text_problem(one)
                if problem:
                    shown = name[:80].encode("unicode_escape").decode("ascii")
                    raise InvalidRequest("invalid_character", Text(
                        "%(field)s: %(problem)s", field=shown, problem=problem), field=shown)
