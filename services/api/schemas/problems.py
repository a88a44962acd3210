"""pydantic's validation errors in mailpipe's words: a stable code, the field, a ``Text``.

pydantic words its errors in English only ("Field required", "String should
have at most 200 characters"). Each error type mailpipe's models can raise
is said here once, as a message the catalog translates, filled from the
error's context (``max_length``, ``ge`` …). mailpipe's own checks raise
their reason as a ``Text`` already (``shared.intake.fields.problem``); a type
not listed still names its field, with pydantic's words as the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.i18n import Text, ntext

#: Codes that differ from pydantic's type names (the API's stable ``code``).
CODES = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "too_short": "empty",
    "string_too_short": "empty",
    # pydantic's names for an unparseable time differ by input and version.
    "datetime_type": "invalid_datetime",
    "datetime_parsing": "invalid_datetime",
    "datetime_from_date_parsing": "invalid_datetime",
}


def _time(ctx: dict) -> Text:
    return Text("must be an RFC 3339 time, e.g. 2030-01-01T09:00:00Z")


#: Each pydantic error type mailpipe's models can raise, in words, from its context.
PROBLEMS: dict[str, Callable[[dict], Text]] = {
    "missing": lambda ctx: Text("required"),
    "extra_forbidden": lambda ctx: Text("is not a field of this request"),
    "string_type": lambda ctx: Text("must be text"),
    "string_too_short": lambda ctx: Text("must not be empty") if ctx["min_length"] == 1 else
    ntext("at least %(num)s character", "at least %(num)s characters", ctx["min_length"]),
    "string_too_long": lambda ctx: ntext("at most %(num)s character",
                                         "at most %(num)s characters", ctx["max_length"]),
    "too_short": lambda ctx: Text("must not be empty") if ctx["min_length"] == 1 else
    ntext("at least %(num)s item", "at least %(num)s items", ctx["min_length"]),
    "too_long": lambda ctx: ntext("at most %(num)s item", "at most %(num)s items",
                                  ctx["max_length"]),
    "int_type": lambda ctx: Text("must be an integer"),
    "int_parsing": lambda ctx: Text("must be an integer"),
    "int_from_float": lambda ctx: Text("must be an integer"),
    "float_type": lambda ctx: Text("must be a number"),
    "float_parsing": lambda ctx: Text("must be a number"),
    "greater_than_equal": lambda ctx: Text("must be %(min)s or more", min=ctx["ge"]),
    "less_than_equal": lambda ctx: Text("must be %(max)s or less", max=ctx["le"]),
    "greater_than": lambda ctx: Text("must be more than %(min)s", min=ctx["gt"]),
    "less_than": lambda ctx: Text("must be less than %(max)s", max=ctx["lt"]),
    "bool_type": lambda ctx: Text("must be true or false"),
    "bool_parsing": lambda ctx: Text("must be true or false"),
    "list_type": lambda ctx: Text("must be a list"),
    "tuple_type": lambda ctx: Text("must be a list"),
    "dict_type": lambda ctx: Text("must be an object"),
    "model_type": lambda ctx: Text("must be an object"),
    "model_attributes_type": lambda ctx: Text("must be an object"),
    "datetime_type": _time,
    "datetime_parsing": _time,
    "datetime_from_date_parsing": _time,
    "literal_error": lambda ctx: Text("must be one of %(expected)s", expected=ctx["expected"]),
    "enum": lambda ctx: Text("must be one of %(expected)s", expected=ctx["expected"]),
}


def path(loc: tuple[Any, ...]) -> str:
    """A pydantic location as the API names fields: ``messages[0].emails[2]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def reason(error: dict) -> Text:
    """What is wrong with the value, without the field: mailpipe's own reason (a ``Text``
    in the context, see ``shared.intake.fields.problem``), else the type's words."""
    ctx = error.get("ctx") or {}
    if isinstance(ctx.get("reason"), Text):
        return ctx["reason"]
    said = PROBLEMS.get(error["type"])
    if said is not None:
        try:
            return said(ctx)
        except KeyError:  # a context without the number the words need
            pass
    return Text("is not valid (%(reason)s)", reason=error["msg"])


def detail(error: dict) -> dict:
    """One pydantic error as an entry of an answer's ``errors``: code, field, message."""
    field = path(error["loc"])
    return {"code": CODES.get(error["type"], error["type"]), "field": field,
            "message": Text("%(field)s: %(problem)s", field=field or "body",
                            problem=reason(error))}
