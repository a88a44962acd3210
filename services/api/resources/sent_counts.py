"""``/v1/events/...``: sent counts."""

from __future__ import annotations

import falcon

from shared.db.reads import sent_count
from shared.errors import InvalidRequest

MAX_HOURS = 168


class SentCountResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raw = req.get_param("hours", default="24")
        # isascii: str.isdigit() is also true for '²', which int() rejects.
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_HOURS:
            raise InvalidRequest(
                "invalid_parameter", f"hours: must be a whole number from 1 to {MAX_HOURS}",
                field="hours",
            )
        hours = int(raw)
        with self.deps.engine.connect() as conn:
            count = sent_count(conn, req.context.api_key.id, hours)
        resp.media = {"hours": hours, "count": count}
