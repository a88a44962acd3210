"""``/v1/messages``: accept messages, read one."""

from __future__ import annotations

import falcon

from services.api.media import read_json
from services.api.schemas import SendRequest, parse
from services.api.views import message_view
from shared.db.reads import STATE_CODES, get_message
from shared.errors import NotFound
from shared.intake import MessageRequest, accept


class MessagesResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(SendRequest, read_json(req, self.deps.settings.max_body_bytes))
        items = [
            MessageRequest(
                topic_id=m.topic_id,
                recipients=m.emails,
                subject=m.subject,
                html=m.content,
                text=m.text,
                from_addr=m.from_,
                reply_to=m.reply_to,
                scheduled_at=m.scheduled_at,
            )
            for m in body.messages
        ]
        created = accept(
            self.deps.engine, self.deps.broker, req.context.api_key, items, self.deps.settings
        )
        resp.status = falcon.HTTP_202
        resp.media = {
            "count": len(created),
            "messages": [
                {"id": m.id, "topicId": m.topic_id, "email": m.to_addr, "status": m.state,
                 "statusCode": STATE_CODES[m.state]}
                for m in created
            ],
        }


class MessageResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, message_id: int) -> None:
        with self.deps.engine.connect() as conn:
            row = get_message(conn, req.context.api_key.id, message_id)
        if row is None:
            raise NotFound("message_not_found", f"no message {message_id} for this API key")
        resp.media = message_view(row)
