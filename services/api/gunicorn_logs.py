"""gunicorn's own logs (start-up, access lines) scrubbed, and in JSON when configured.

gunicorn logs through its own handlers, not the root logger's. Its access
lines are redacted field by field first (``services.api.accesslog``: query
values such as tracking tokens and the SNS raw-delivery secret become ``-``),
then pass mailpipe's scrubber and formatter like every other log line.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from services.api.accesslog import RedactingLogger
from shared.runtime.observe import dress_handler
from shared.runtime.scrub import Scrubber, secret_values
from shared.settings import Settings


def scrubbed_logger(settings: Settings) -> type[Logger]:
    """A gunicorn ``logger_class`` putting mailpipe's filters (and formatter) on its handlers."""
    scrubber = Scrubber(secret_values(settings))

    class ScrubbedLogger(RedactingLogger):
        def setup(self, cfg) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    dress_handler(handler, "api", settings, scrubber)

    return ScrubbedLogger
