"""Helpers for hostile-input tests: what a request left behind, and a client that sends
JSON the way a hostile one does.

``footprint`` counts rows in every table a request may write, and queued
sends; tests compare it before and after a refused request (a 4xx leaves
nothing behind). ``AsciiJsonClient`` sends ``json=`` bodies with non-ASCII
escaped, so a lone surrogate travels as ``"\\ud800"`` (falcon's test client
would fail to encode it as UTF-8 before sending anything).
"""

from __future__ import annotations

import json

from sqlalchemy import func, select

from shared.broker.queues import SEND_QUEUE
from shared.db.tables import metadata

#: Every table mailpipe has (api_keys included: a request never creates one).
TABLES = tuple(metadata.sorted_tables)


def footprint(engine, redis) -> dict[str, int]:
    """Row counts by table, and the length of the send queue."""
    with engine.connect() as conn:
        counts = {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                  for table in TABLES}
    counts["send queue"] = redis.llen(f"dramatiq:{SEND_QUEUE}")
    return counts


class AsciiJsonClient:
    """A falcon TestClient whose ``json=`` bodies are ASCII JSON (``\\uXXXX`` escapes)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def simulate_post(self, path: str, json=None, **kwargs):  # noqa: A002 - falcon's name
        return self.inner.simulate_post(path, **_as_body(json, kwargs))

    def simulate_put(self, path: str, json=None, **kwargs):  # noqa: A002 - falcon's name
        return self.inner.simulate_put(path, **_as_body(json, kwargs))


def _as_body(body, kwargs: dict) -> dict:
    if body is None:
        return kwargs
    headers = {"content-type": "application/json", **(kwargs.pop("headers", None) or {})}
    return {**kwargs, "body": json.dumps(body), "headers": headers}
