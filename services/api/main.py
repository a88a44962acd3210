"""`mailpipe api`: the falcon app under gunicorn."""

from __future__ import annotations

import redis
from gunicorn.app.base import BaseApplication

from services.api.app import ApiDeps, create_app
from services.api.context import RequestContext
from services.api.gunicorn_logs import scrubbed_logger
from shared.broker.queues import make_broker
from shared.db.engine import make_engine
from shared.metrics.setup import worker_exited
from shared.runtime.heartbeat import Heartbeat
from shared.runtime.logs import configure_logging
from shared.runtime.observe import observe
from shared.settings import Settings, load_settings

THREADS = 8


def build_app(settings: Settings):
    """The app of one api process (a gunicorn worker, after its fork), beating for it."""
    client = redis.Redis.from_url(settings.redis_url)
    app = create_app(
        ApiDeps(
            settings=settings,
            engine=make_engine(settings.database_url, pool_size=THREADS),
            broker=make_broker(settings),
            redis=client,
        )
    )
    app.add_middleware(RequestContext())  # after authentication: the key is known
    Heartbeat(client, "api").start()
    return app


def wsgi():
    """Entry for an external gunicorn: ``gunicorn 'services.api.main:wsgi()'``.

    Give it the options ``main`` sets, or put a buffering proxy in front:
    ``-k services.api.worker.BufferingWorker --keep-alive 0
    --logger-class services.api.accesslog.RedactingLogger`` (what ``main`` uses adds
    mailpipe's log format to it: ``services.api.gunicorn_logs``).
    """
    settings = load_settings()
    configure_logging("api", settings.log_level)
    observe("api", settings)
    return build_app(settings)


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self):
        # Runs in each worker after the fork: every worker gets its own pools.
        configure_logging("api", self.settings.log_level)
        observe("api", self.settings)
        return build_app(self.settings)


def main(settings: Settings, bind: str, workers: int) -> int:
    _Gunicorn(
        settings,
        {
            "bind": bind,
            "workers": workers,
            # Requests reach a thread only once their head has arrived, and
            # every connection carries one request (see services.api.worker).
            "worker_class": "services.api.worker.BufferingWorker",
            "keepalive": 0,
            "threads": THREADS,
            "timeout": 60,
            "graceful_timeout": 20,
            "accesslog": "-",
            "logger_class": scrubbed_logger(settings),
            # Live gauges of a dead worker leave the multiprocess sum.
            "child_exit": lambda server, worker: worker_exited(worker.pid),
        },
    ).run()
    return 0
