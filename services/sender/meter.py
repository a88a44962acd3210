"""Each sender process logs what it sent per second, so operators see the fleet move."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("mailpipe.sender")


class SendMeter:
    """Counts recipients sent by this process; a daemon thread logs the rate."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._count = 0
        self._lock = threading.Lock()

    def add(self, recipients: int) -> None:
        with self._lock:
            self._count += recipients

    def take(self) -> int:
        with self._lock:
            count, self._count = self._count, 0
        return count

    def start(self) -> SendMeter:
        threading.Thread(target=self._report, name="send-meter", daemon=True).start()
        return self

    def _report(self) -> None:
        while True:
            time.sleep(self.interval)
            count = self.take()
            if count:
                log.info("sent %d recipients in %.0fs (%.1f/s)", count, self.interval,
                         count / self.interval)
