"""The request's key id and topic in the log and error-report context."""

from __future__ import annotations

import falcon

from shared.runtime.context import set_fields


class RequestContext:
    """Falcon middleware: after authentication, the caller's key id and the topic named.

    Added after ``ApiKeyMiddleware`` so the key is known; the context is
    replaced at the start of every request, so a worker thread never carries
    the previous caller's fields into the next request.
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        set_fields()

    def process_resource(self, req: falcon.Request, resp, resource, params) -> None:
        key = getattr(req.context, "api_key", None)
        set_fields(key_id=getattr(key, "id", None),
                   topic=params.get("topic_id"),
                   message_id=params.get("message_id"))
