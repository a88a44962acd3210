"""Intake rate limiting: each API key gets a request budget; past it, 429."""

from __future__ import annotations

import falcon

from shared.errors import TooManyRequests
from shared.ratelimit import IntakeLimiter


class IntakeRateMiddleware:
    """Runs after authentication: public resources (health, SNS, tracking) are not limited."""

    def __init__(self, limiter: IntakeLimiter) -> None:
        self.limiter = limiter

    def process_resource(self, req: falcon.Request, resp, resource, params) -> None:
        key = getattr(req.context, "api_key", None)
        if key is None:
            return
        wait = self.limiter.admit(f"key:{key.id}")
        if wait:
            raise TooManyRequests(
                f"this API key is over its budget of {self.limiter.rate:g} requests per "
                f"second (bursts of {self.limiter.burst}); retry in {wait:.1f}s", wait)
