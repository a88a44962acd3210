"""Starting mailpipe's real processes for end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from services.up import Stack
from shared.runtime.localservers import free_port
from shared.settings import Settings


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes a child process load ``settings``."""
    env = {
        "MAILPIPE_DATABASE_URL": settings.database_url,
        "MAILPIPE_REDIS_URL": settings.redis_url,
        "MAILPIPE_TRANSPORT": settings.transport,
        "MAILPIPE_SEND_RATE": str(settings.send_rate),
        "MAILPIPE_FILE_DIR": str(settings.file_dir),
        "MAILPIPE_DEFAULT_FROM": settings.default_from or "",
        "MAILPIPE_LOG_LEVEL": "INFO",
        # Stacks run side by side: no fixed metrics ports unless a test asks for them,
        # and those on this machine only.
        "MAILPIPE_METRICS_HOST": "127.0.0.1",
        "MAILPIPE_METRICS_PORT_SCHEDULER": "0",
        "MAILPIPE_METRICS_PORT_SENDER": "0",
        "MAILPIPE_METRICS_PORT_RECORDER": "0",
        "MAILPIPE_METRICS_PORT_SMTP": "0",
    }
    env.update(extra)
    return env


def wait_for(predicate: Callable[[], object], timeout: float, what: str, poll: float = 0.2):
    """Poll until ``predicate()`` is truthy; fail the test naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    def up() -> bool:
        try:
            return requests.get(url, timeout=1).status_code < 500
        except requests.RequestException:
            return False

    wait_for(up, timeout, f"{url} to answer")


@contextmanager
def running_stack(
    env: dict[str, str], log_dir: Path, *, processes: int = 1, threads: int = 2,
    port: int | None = None,
) -> Iterator[tuple[Stack, str]]:
    """The four real processes with ``env``; yields the stack and the API's URL."""
    port = port or free_port()
    stack = Stack(env, log_dir=log_dir)
    stack.start("api", "api", "--bind", f"127.0.0.1:{port}", "--workers", "1")
    stack.start("scheduler", "scheduler")
    stack.start("sender", "sender", "--processes", str(processes), "--threads", str(threads))
    stack.start("recorder", "recorder")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/health")
        yield stack, url
    finally:
        stack.stop_all()
