"""``/v1/unsubscribe``: RFC 8058 one-click unsubscribe, and a page for people.

POST (what mail clients send for ``List-Unsubscribe-Post:
List-Unsubscribe=One-Click``, and what the page's button sends) suppresses
the recipient for the key that sent the message. GET only shows the page:
link scanners fetch every URL in a message, and must not unsubscribe anyone.
"""

from __future__ import annotations

import html
import time

import falcon

from services.api.resources.tracking import publish_hit, read_token
from shared.broker.payloads import Event, EventType
from shared.db.suppressions import unsubscribe_message_recipient
from shared.errors import NotFound
from shared.i18n import Text
from shared.rendering.tracking import Kind, Tracker

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Unsubscribe</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">{body}</body></html>
"""
_ASK = """<h1>Unsubscribe?</h1>
<p>You will no longer receive these emails.</p>
<form method="post" action="{action}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>"""
_DONE = "<h1>You are unsubscribed</h1><p>You will no longer receive these emails.</p>"


class UnsubscribeResource:
    auth = False

    def __init__(self, deps, tracker: Tracker | None) -> None:
        self.deps = deps
        self.tracker = tracker

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        claim = read_token(self.tracker, req, Kind.UNSUBSCRIBE)
        # The public URL, not this request's path: a proxy may serve us under a prefix.
        action = html.escape(self.tracker.unsubscribe_url(claim.message_id))
        resp.content_type = falcon.MEDIA_HTML
        resp.text = _PAGE.format(body=_ASK.format(action=action))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        claim = read_token(self.tracker, req, Kind.UNSUBSCRIBE)
        with self.deps.engine.begin() as conn:
            found = unsubscribe_message_recipient(conn, claim.message_id)
        if not found:
            raise NotFound("unknown_token", Text("this link is not valid"))
        publish_hit(self.deps.broker, Event(EventType.UNSUBSCRIBED, time.time(),
                                            message_id=claim.message_id))
        resp.content_type = falcon.MEDIA_HTML
        resp.text = _PAGE.format(body=_DONE)
