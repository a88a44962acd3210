"""``/v1/topics/{topicId}``: per-topic state and event counts; cancel a topic and its campaigns."""

from __future__ import annotations

import falcon

from services.api.views.messages import cancel_view, topic_view
from shared.db.cancellation import cancel_topic
from shared.db.reads import topic_summary
from shared.db.stats import topic_stats
from shared.errors import NotFound
from shared.i18n import Text


class TopicResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, topic_id: str) -> None:
        with self.deps.engine.connect() as conn:
            summary = topic_summary(conn, req.context.api_key.id, topic_id)
            stats = topic_stats(conn, req.context.api_key.id, topic_id)
        resp.media = topic_view(topic_id, summary, stats)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, topic_id: str) -> None:
        with self.deps.engine.begin() as conn:
            done = cancel_topic(conn, req.context.api_key.id, topic_id)
        if not (done.cancelled or done.kept or done.campaigns):
            raise NotFound("topic_not_found", Text(
                "no messages or campaigns to cancel in topic %(topic)r for this key",
                topic=topic_id))
        resp.media = {"topicId": topic_id, **cancel_view(done.cancelled, done.kept),
                      "campaignsCancelled": done.campaigns}
