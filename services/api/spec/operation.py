"""What the OpenAPI description says about one operation (a route and a method).

The route itself (its path, its path fields and their bounds, whether it
needs an API key) is read from the falcon app by ``build``; an
``Operation`` adds what the router does not know: the summary, the query
parameters the resource reads, the request bodies (pydantic models that
validate them), the answers and the error codes, each with an example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from services.api.params import MAX_ID

JSON = "application/json"


@dataclass(frozen=True)
class Param:
    """A query parameter or request header the resource reads."""

    name: str
    schema: dict
    description: str
    where: str = "query"
    required: bool = False


@dataclass(frozen=True)
class Body:
    """One accepted request body: a pydantic model (or any of several), or a raw JSON
    Schema (``schema``)."""

    example: Any
    model: type[BaseModel] | tuple[type[BaseModel], ...] | None = None
    schema: dict | None = None
    media: str = JSON
    description: str = ""


@dataclass(frozen=True)
class Reply:
    """A successful answer: a pydantic model (``answers``), or a raw schema for other media."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    schema: dict | None = None
    media: str = JSON
    example: Any = None
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    replies: tuple[Reply, ...]
    description: str = ""
    params: tuple[Param, ...] = ()
    bodies: tuple[Body, ...] = ()
    #: status -> the ``code`` values answered with it (the native ``Error`` shape).
    errors: dict[int, tuple[str, ...]] = field(default_factory=dict)
    #: Path fields whose schema the route does not give (``{action}``: an enum).
    path: dict[str, dict] = field(default_factory=dict)
    #: The error answers' model, for the compat APIs' own shapes (None: ``Error``).
    error_model: type[BaseModel] | None = None


def integer(minimum: int = 0, maximum: int = MAX_ID, default: int | None = None) -> dict:
    schema = {"type": "integer", "minimum": minimum, "maximum": maximum}
    return schema | ({"default": default} if default is not None else {})


def text(**extra) -> dict:
    return {"type": "string", **extra}


BOOLEAN = {"type": "boolean"}


def after(description: str = "the id after which the page starts (the last one seen)") -> Param:
    return Param("after", integer(default=0), description)


def query(name: str, schema: dict, description: str, required: bool = False) -> Param:
    return Param(name, schema, description, required=required)


IDEMPOTENCY = Param(
    "Idempotency-Key", text(minLength=1, maxLength=255),
    "the same key with the same request answers the first answer again and creates "
    "nothing; with another request, 409", where="header",
)

#: ``/v1/messages?topicId=`` and ``/v1/campaigns/{id}/messages``: filters, pages, CSV.
LISTING = (
    query("state", text(), "comma-separated message states"),
    query("opened", BOOLEAN, "opened by a person (not a prefetcher)"),
    query("clicked", BOOLEAN, "a link clicked by a person"),
    query("bounced", BOOLEAN, "bounced"),
    query("email", text(), "this recipient only"),
    after(),
    query("format", text(enum=["json", "csv"]), "csv: every matching row as one CSV file "
          "(or Accept: text/csv)"),
    query("charset", text(enum=["utf-8", "cp949", "euc-kr"]), "the CSV's charset: "
          "utf-8 (the default) is written with a BOM, which Excel needs; cp949 (euc-kr) is "
          "what Korean Excel saves, a character it lacks written as '?'"),
)
