"""``/v1/topics/{topicId}``: per-topic state and event counts."""

from __future__ import annotations

import falcon

from shared.db.reads import topic_summary


class TopicResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, topic_id: str) -> None:
        with self.deps.engine.connect() as conn:
            summary = topic_summary(conn, req.context.api_key.id, topic_id)
        resp.media = {
            "topicId": topic_id,
            "total": sum(summary["status"].values()),
            **summary,
        }
