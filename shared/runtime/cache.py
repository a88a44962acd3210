"""A small thread-safe cache bounded by entries and by the characters they hold."""

from __future__ import annotations

import threading
from collections.abc import Hashable

MISSING = object()


class BoundedCache:
    """Values by key, the oldest stored dropped first once there are more than
    ``size`` of them or their ``chars`` add up to more than ``max_chars``.

    For what a sender derives from a content and keeps for its next
    recipients: a content may be megabytes, so a count alone does not bound it.
    """

    def __init__(self, size: int, max_chars: int) -> None:
        self.size, self.max_chars = size, max_chars
        self._values: dict[Hashable, tuple[object, int]] = {}
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        """The value kept under ``key``, or MISSING (None may be a value)."""
        with self._lock:
            return self._values.get(key, (MISSING, 0))[0]

    def put(self, key: Hashable, value: object, chars: int) -> None:
        with self._lock:
            if not self.size or key in self._values:
                return
            self._values[key] = (value, chars)
            self._chars += chars
            while self._values and (len(self._values) > self.size
                                    or self._chars > self.max_chars):
                self._chars -= self._values.pop(next(iter(self._values)))[1]
