"""The API's metrics: a middleware counting and timing every request, and ``/metrics``.

Requests are labelled by route (falcon's uri template, ``/v1/messages/{message_id:…}``
shown as ``/v1/messages/{message_id}``; ``unmatched`` for no route), so a
label never grows with the ids in paths. ``/metrics`` needs no key but
answers only addresses in MAILPIPE_METRICS_ALLOW (loopback and private
networks by default); under gunicorn it sums every worker's counts
(prometheus_client's multiprocess mode, set up by ``mailpipe api``).
"""

from __future__ import annotations

import time

import falcon
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.api.spec.build import openapi_path
from shared.errors import Forbidden
from shared.i18n import Text
from shared.metrics.instruments import API_LATENCY, API_REQUESTS
from shared.metrics.setup import allowed, exposition_registry, parse_networks


class MetricsMiddleware:
    """First in the chain, so refused and failed requests are counted too."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource,
                         req_succeeded: bool) -> None:
        started = getattr(req.context, "started", None)
        route = openapi_path(req.uri_template) if req.uri_template else "unmatched"
        API_REQUESTS.labels(route, req.method, str(resp.status_code)).inc()
        if started is not None:
            API_LATENCY.labels(route, req.method).observe(time.perf_counter() - started)


class MetricsResource:
    auth = False

    def __init__(self, allow: str) -> None:
        self.networks = parse_networks(allow)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # remote_addr, not X-Forwarded-For: a client can write that header itself.
        if not allowed(req.remote_addr, self.networks):
            raise Forbidden("metrics_not_allowed", Text(
                "%(address)s is not in MAILPIPE_METRICS_ALLOW", address=req.remote_addr))
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(exposition_registry())
