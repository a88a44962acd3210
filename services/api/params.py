"""Bounds of the API's integer parameters, for route fields and query strings alike.

Query strings are read with falcon's ``req.get_param_as_int(name, min_value=,
max_value=, default=)``: a value that is no integer or out of bounds is a 400
naming the parameter (``services.api.errors`` gives it mailpipe's JSON shape),
never a database error.
"""

from __future__ import annotations

#: PostgreSQL BIGINT, the type of every row id: a larger id names no row.
MAX_ID = 2**63 - 1
#: PostgreSQL INTEGER, the type of a template's version number.
MAX_VERSION = 2**31 - 1
#: A route field holding a row id (``/v1/templates/{template_id:ID_FIELD}``).
ID_FIELD = f"int(min=1, max={MAX_ID})"
