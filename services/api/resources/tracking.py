"""``/v1/events/open`` and ``/v1/events/click``: the tracking pixel and link redirects.

A token that is not ours answers 404 and records nothing. The pixel of the
system mailpipe replaces (aws-ses-sender-go: ``/v1/events/open?requestId=N``,
in mail already delivered) still answers the image a mail client expects,
but records nothing: an unsigned sequential id proves nothing. A valid hit is
handed to the recorder (which tells people from prefetchers and scanners);
if Redis is down the hit is lost but the reader still gets the pixel or the
redirect, since the person clicking matters more than the count.
"""

from __future__ import annotations

import logging
import time

import falcon
from redis.exceptions import RedisError

from services.api.clients import Networks, client_address
from shared.broker.payloads import Event, EventBatch, EventType
from shared.broker.queues import publish_events
from shared.errors import NotFound
from shared.i18n import Text
from shared.rendering.tracking import PIXEL_GIF, Claim, Kind, Tracker

log = logging.getLogger("mailpipe.api.tracking")


def read_token(tracker: Tracker | None, req: falcon.Request, kind: Kind) -> Claim:
    """The token's claim, or NotFound for a missing, forged or wrong-kind token."""
    token = req.get_param("t") or ""
    claim = tracker.read(token) if tracker is not None and len(token) < 8192 else None
    if claim is None or claim.kind is not kind:
        raise NotFound("unknown_token", Text("this link is not valid"))
    return claim


def hit_facts(req: falcon.Request, trusted_proxies: Networks) -> dict:
    """What the recorder needs to tell a person from a machine."""
    return {
        "userAgent": (req.user_agent or "")[:500],
        "ip": client_address(req, trusted_proxies),
        "method": req.method,
    }


def publish_hit(broker, event: Event) -> None:
    try:
        publish_events(broker, EventBatch((event,)))
    except RedisError as exc:
        log.warning("lost a %s of message %d: cannot queue it (%s)",
                    event.type.value, event.message_id, exc)


class OpenResource:
    auth = False

    def __init__(self, deps, tracker: Tracker | None) -> None:
        self.deps = deps
        self.tracker = tracker

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.get_param("t") is None and req.get_param("requestId") is not None:
            log.debug("legacy open pixel requestId=%.40s answered, not recorded",
                      req.get_param("requestId"))
        else:
            claim = read_token(self.tracker, req, Kind.OPEN)
            facts = hit_facts(req, self.deps.guards.trusted_proxies)
            publish_hit(self.deps.broker, Event(EventType.OPENED, time.time(),
                                                message_id=claim.message_id, payload=facts))
        resp.content_type = "image/gif"
        resp.cache_control = ["no-store", "no-cache", "must-revalidate", "private"]
        resp.data = PIXEL_GIF

    on_head = on_get


class ClickResource:
    auth = False

    def __init__(self, deps, tracker: Tracker | None) -> None:
        self.deps = deps
        self.tracker = tracker

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        claim = read_token(self.tracker, req, Kind.CLICK)
        facts = hit_facts(req, self.deps.guards.trusted_proxies)
        publish_hit(self.deps.broker, Event(EventType.CLICKED, time.time(),
                                            message_id=claim.message_id, detail=claim.url,
                                            payload=facts))
        resp.status = falcon.HTTP_302
        resp.location = claim.url
        resp.cache_control = ["no-store", "private"]

    on_head = on_get
