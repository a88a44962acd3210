"""``/v1/events/counts/sent``: messages sent in the last ``hours`` hours (24 by default).

Answers ``{"hours", "since", "count"}``: aws-ses-sender-go answered ``{"count"}``.
"""

from __future__ import annotations

import falcon

from services.api.params import int_param
from shared.db.reads import sent_count

MAX_HOURS = 168


class SentCountResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        hours = int_param(req, "hours", min_value=1, max_value=MAX_HOURS, default=24)
        with self.deps.engine.connect() as conn:
            count, since = sent_count(conn, req.context.api_key.id, hours)
        resp.media = {"hours": hours, "since": since.isoformat(), "count": count}
