"""Request budgets: each API key's intake budget, and failed authentications per client
(their checks shared with the console and SMTP: shared.rate.intake).

``Guards`` holds one process's budgets, sync-wait slots and trusted proxies,
built once from the settings; every route that resolves a key (the native
API's middleware, Biz, fureweb) charges the same intake budget through
``charge_key`` and authenticates through ``services.api.auth.authenticate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import falcon
from redis import Redis

from services.api.clients import Networks, parse_networks
from services.api.sync import SyncSlots
from shared.rate.intake import IntakeLimiter, charge_key
from shared.settings import Settings


@dataclass(frozen=True)
class Guards:
    """One API process's limits: intake per key, failed sign-ins per address, sync waits."""

    intake: IntakeLimiter
    auth_failures: IntakeLimiter
    sync_slots: SyncSlots
    trusted_proxies: Networks

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis) -> Guards:
        return cls(
            intake=IntakeLimiter(redis, settings.intake_rate, settings.intake_burst),
            auth_failures=IntakeLimiter(redis, settings.auth_failure_rate,
                                        settings.auth_failure_burst),
            sync_slots=SyncSlots(settings.sync_waits_per_process, settings.sync_waits_per_key),
            trusted_proxies=parse_networks(settings.trusted_proxies),
        )


class IntakeRateMiddleware:
    """Runs after authentication: public resources (health, SNS, tracking) are not limited."""

    def __init__(self, limiter: IntakeLimiter) -> None:
        self.limiter = limiter

    def process_resource(self, req: falcon.Request, resp, resource, params) -> None:
        key = getattr(req.context, "api_key", None)
        if key is not None:
            charge_key(self.limiter, key)
