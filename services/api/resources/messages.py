"""``/v1/messages``: accept messages (idempotently), list a topic's, read one, cancel one."""

from __future__ import annotations

import time

import falcon

from services.api.idempotency import idempotency_of
from services.api.media import read_json
from services.api.resources.listings import answer_listing, message_filter
from services.api.schemas.messages import SendRequest, parse
from services.api.sync import answer_when_done, wait_param
from services.api.views.messages import cancel_view, go_duration, message_view
from shared.db.cancellation import cancel
from shared.db.reads import get_message
from shared.errors import NotFound
from shared.i18n import Text
from shared.intake.messages import accept
from shared.states import MessageState as S


class MessagesResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """200 ``{"count", "elapsed", "messages"}`` (aws-ses-sender-go answered 200 with
        count and elapsed); with ``?wait=``, 202 if the wait runs out (``sync``)."""
        started = time.perf_counter()
        data = read_json(req, self.deps.settings.max_body_bytes)
        body = parse(SendRequest, data)
        wait = wait_param(req, self.deps.settings, sum(len(m.recipients) for m in body.messages))
        created = accept(
            self.deps.engine, self.deps.broker, req.context.api_key, body.messages,
            self.deps.settings, idempotency=idempotency_of(req, data),
        )
        resp.status = falcon.HTTP_202 if wait else falcon.HTTP_200
        resp.media = {
            "count": len(created),
            "elapsed": go_duration(time.perf_counter() - started),
            "messages": [
                {"id": m.id, "topicId": m.topic_id, "email": m.to_addr, "status": m.state,
                 "statusCode": S(m.state).code}
                for m in created
            ],
        }
        if wait:
            answer_when_done(self.deps, resp, req.context.api_key.id, [m.id for m in created], wait)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        topic_id = req.get_param("topicId", required=True)
        answer_listing(self.deps, req, resp, message_filter(req, topic_id=topic_id),
                       "topic-messages.csv")


class MessageResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, message_id: int) -> None:
        with self.deps.engine.connect() as conn:
            row = get_message(conn, req.context.api_key.id, message_id)
        if row is None:
            raise NotFound("message_not_found", Text("no message %(id)s for this API key",
                                                     id=message_id))
        resp.media = message_view(row)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, message_id: int) -> None:
        with self.deps.engine.begin() as conn:
            cancelled, kept = cancel(conn, req.context.api_key.id, message_id=message_id)
        if not cancelled and not kept:
            raise NotFound("message_not_found", Text("no message %(id)s for this API key",
                                                     id=message_id))
        resp.media = cancel_view(cancelled, kept)

