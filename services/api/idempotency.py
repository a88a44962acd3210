"""The ``Idempotency-Key`` header, and the fingerprint of the request it came with.

Same key and same request: the first answer again, nothing created; same key
and another request: 409 (``shared.intake.idempotency``). A JSON body is hashed with
its keys sorted; an upload (CSV body or form) is hashed over its fields and
then its bytes, as the handler streams them, so a million-row file is never
held whole to be fingerprinted.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable

import falcon

from services.api.media import read_rest
from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.addresses import has_line_break
from shared.intake.idempotency import Idempotency

IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(req: falcon.Request) -> str | None:
    """The header's value (None when absent); 400 when it is not 1 to 255 characters on a line."""
    key = req.get_header(IDEMPOTENCY_HEADER)
    if key is not None and (not 1 <= len(key) <= 255 or has_line_break(key)):
        raise InvalidRequest("invalid_idempotency_key", Text(
            "Idempotency-Key: must be 1 to 255 characters on one line"),
            field=IDEMPOTENCY_HEADER)
    return key


def _canonical(data) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(scope: str | None, data):
    """SHA-256 of ``data`` as canonical JSON, behind ``scope`` (the endpoint) when given.

    The scope makes a key reused on another endpoint a conflict, never a
    replay of the other endpoint's answer. (``/v1/messages`` has none: its
    hashes predate scopes, and keys stored before still match.)
    """
    digest = hashlib.sha256()
    if scope is not None:
        digest.update(scope.encode() + b"\n")
    digest.update(_canonical(data))
    return digest


def idempotency_of(req: falcon.Request, data, scope: str | None = None) -> Idempotency | None:
    """The request's Idempotency-Key with a hash of its JSON body (key order ignored)."""
    key = idempotency_key(req)
    if key is None:
        return None
    request_hash = _digest(scope, data).hexdigest()
    return Idempotency(key, lambda: request_hash)


def idempotency_of_upload(
    req: falcon.Request, scope: str, described: dict,
    open_stream: Callable[[object | None], io.BufferedReader],
) -> tuple[io.BufferedReader, Idempotency | None]:
    """The upload stream, and the Idempotency-Key with a hash fed by what is read from it.

    ``described`` is everything about the upload but its bytes (fields,
    media type, charset); ``open_stream(digest)`` opens the capped upload
    stream, feeding every byte read into ``digest`` (None: no key, no hash).
    The fingerprint is final once the stream has been read to its end;
    asking for it reads whatever is left (a replay reads the whole upload,
    and stores none of it).
    """
    key = idempotency_key(req)
    if key is None:
        return open_stream(None), None
    digest = _digest(scope, described)
    stream = open_stream(digest)

    def fingerprint() -> str:
        read_rest(stream)
        return digest.hexdigest()

    return stream, Idempotency(key, fingerprint)
