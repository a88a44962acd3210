"""``/health``: are the database and Redis reachable, and may the fleet send."""

from __future__ import annotations

import falcon
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared.pause import SendingPause


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
        paused = None
        try:
            self.deps.redis.ping()
            checks["redis"] = "ok"
            paused = SendingPause(self.deps.redis).reason()
        except RedisError as exc:
            checks["redis"] = f"unavailable: {exc.__class__.__name__}"
        healthy = all(v == "ok" for v in checks.values())
        resp.status = falcon.HTTP_200 if healthy else falcon.HTTP_503
        resp.media = {
            "status": "ok" if healthy else "degraded",
            **checks,
            # The service is up but SES refuses to send for this account.
            "sending": f"paused: {paused}" if paused else "ok",
        }
