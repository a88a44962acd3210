"""``/health``: are the database and Redis reachable, and may the fleet send."""

from __future__ import annotations

from datetime import UTC

import falcon
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared.rate.pause import FleetPause
from shared.rate.quota import HEADROOM, QuotaStore


class HealthResource:
    auth = False

    def __init__(self, deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        checks = {}
        try:
            with self.deps.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except SQLAlchemyError as exc:
            checks["database"] = f"unavailable: {exc.__class__.__name__}"
        pause = FleetPause(self.deps.engine, self.deps.redis)
        paused = self._paused(pause) if checks["database"] == "ok" else None
        rate = None
        try:
            self.deps.redis.ping()
            checks["redis"] = "ok"
            # The senders' view (the mirror), when PostgreSQL's row says nothing.
            paused = paused or pause.reason()
            rate = self._rate()
        except RedisError as exc:
            checks["redis"] = f"unavailable: {exc.__class__.__name__}"
        healthy = all(v == "ok" for v in checks.values())
        resp.status = falcon.HTTP_200 if healthy else falcon.HTTP_503
        resp.media = {
            "status": "ok" if healthy else "degraded",
            **checks,
            # The service is up but SES refuses to send for this account: the
            # fleet is paused until a probe of the account succeeds.
            "sending": f"paused: {paused}" if paused else "ok",
            "rate": rate,
        }

    def _paused(self, fleet: FleetPause) -> str | None:
        """Why the fleet is paused (PostgreSQL's row: the truth), with since when."""
        try:
            pause = fleet.state()
        except SQLAlchemyError:
            return None
        if pause is None:
            return None
        since, probe = (t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                        for t in (pause.paused_at, pause.next_probe_at))
        return (f"{pause.reason} (since {since}; the account is probed again at {probe}, "
                f"{pause.probes} probes so far)")

    def _rate(self) -> dict:
        """The fleet's limit (configured or from SES), what it sends now, the quota left."""
        store = QuotaStore(self.deps.redis)
        current = round(store.current_rate(), 2)
        if self.deps.settings.send_rate != "auto":
            # The fleet sends at HEADROOM of the configured rate, as it does of SES's.
            configured = self.deps.settings.send_rate
            return {"mode": "fixed", "limit": round(configured * HEADROOM, 3),
                    "configured": configured, "current": current, "quotaLeft24h": None}
        quota = store.load()
        if quota is None:
            return {"mode": "auto", "limit": None, "current": current, "quotaLeft24h": None}
        left = quota.remaining_24h
        return {"mode": "auto", "limit": round(quota.max_send_rate * HEADROOM, 3),
                "current": current, "quotaLeft24h": None if left == float("inf") else left,
                "sesSendingEnabled": quota.enabled}
