"""Intake rate limiting: each API key gets a request budget; past it, 429."""

from __future__ import annotations

import logging

import falcon
from redis.exceptions import RedisError

from shared.errors import TooManyRequests
from shared.rate.limiter import IntakeLimiter

log = logging.getLogger("mailpipe.api")


class IntakeRateMiddleware:
    """Runs after authentication: public resources (health, SNS, tracking) are not limited."""

    def __init__(self, limiter: IntakeLimiter) -> None:
        self.limiter = limiter

    def process_resource(self, req: falcon.Request, resp, resource, params) -> None:
        key = getattr(req.context, "api_key", None)
        if key is None:
            return
        try:
            wait = self.limiter.admit(f"key:{key.id}")
        except RedisError as exc:
            # Redis is the conveyor, not the truth: while it is down the API
            # still stores messages (the scheduler enqueues them later), so
            # the budget fails open instead of refusing every request.
            log.warning("intake budget unavailable, request admitted: %s", exc)
            return
        if wait:
            raise TooManyRequests(
                f"this API key is over its budget of {self.limiter.rate:g} requests per "
                f"second (bursts of {self.limiter.burst}); retry in {wait:.1f}s", wait)
