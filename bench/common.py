"""What the benches share: their error, a polling deadline, JSON over HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator


class BenchError(RuntimeError):
    pass


def deadline_loop(timeout: float, what: str, poll: float = 0.25) -> Iterator[None]:
    """Yield until ``timeout`` seconds have passed, then raise BenchError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        yield
        time.sleep(poll)
    raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")


def http_json(method: str, url: str, *, body: bytes | None = None, key: str | None = None,
              content_type: str = "application/json", timeout: float = 60.0) -> tuple[int, dict]:
    """(status, JSON answer); an error status comes back with its text as ``error``."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("content-type", content_type)
    if key:
        request.add_header("x-api-key", key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode(errors="replace")[:2000]}
