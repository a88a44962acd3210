"""Reading request bodies with a size cap."""

from __future__ import annotations

import json

import falcon

from shared.errors import InvalidRequest, PayloadTooLarge


def read_json(req: falcon.Request, max_bytes: int):
    """The parsed JSON body; 413 past ``max_bytes``, 400 when it is not JSON."""
    if req.content_length is not None and req.content_length > max_bytes:
        raise PayloadTooLarge(
            "body_too_large", f"the body is {req.content_length} bytes; the limit is {max_bytes}"
        )
    raw = req.bounded_stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge("body_too_large", f"the body is over the limit of {max_bytes} bytes")
    if not raw:
        raise InvalidRequest("invalid_json", "the request body is empty; send a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidRequest("invalid_json", f"the body is not valid JSON: {exc}") from None
