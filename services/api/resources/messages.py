"""``/v1/messages``: accept messages (idempotently), read one, cancel one."""

from __future__ import annotations

import falcon

from services.api.idempotency import idempotency_of
from services.api.media import read_json
from services.api.schemas.messages import SendRequest, parse
from services.api.schemas.parts import attachments_of, headers_of
from services.api.sync import answer_when_done, wait_param
from services.api.views.messages import cancel_view, message_view
from shared.db.cancellation import cancel
from shared.db.reads import STATE_CODES, get_message
from shared.errors import NotFound
from shared.intake.messages import MessageRequest, accept
from shared.intake.templated import TemplateUse


class MessagesResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = read_json(req, self.deps.settings.max_body_bytes)
        body = parse(SendRequest, data)
        wait = wait_param(req, self.deps.settings, sum(len(m.emails) for m in body.messages))
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
                template=_template_use(m),
                tracking=m.tracking,
                bulk=m.bulk,
                headers=headers_of(m, index),
                attachments=attachments_of(m, index),
            )
            for index, m in enumerate(body.messages)
        ]
        created = accept(
            self.deps.engine, self.deps.broker, req.context.api_key, items, self.deps.settings,
            idempotency=idempotency_of(req, data),
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
        if wait:
            answer_when_done(self.deps, resp, req.context.api_key.id, [m.id for m in created], wait)


class MessageResource:
    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, message_id: int) -> None:
        with self.deps.engine.connect() as conn:
            row = get_message(conn, req.context.api_key.id, message_id)
        if row is None:
            raise NotFound("message_not_found", f"no message {message_id} for this API key")
        resp.media = message_view(row)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, message_id: int) -> None:
        with self.deps.engine.begin() as conn:
            cancelled, kept = cancel(conn, req.context.api_key.id, message_id=message_id)
        if not cancelled and not kept:
            raise NotFound("message_not_found", f"no message {message_id} for this API key")
        resp.media = cancel_view(cancelled, kept)


def _template_use(item) -> TemplateUse | None:
    if item.template_id is None:
        return None
    return TemplateUse(item.template_id, item.variables or {}, item.recipient_variables or {})
