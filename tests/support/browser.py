"""Real browsers and small web servers for the suite: Debian's chromium under Playwright,
and WSGI apps served from a thread on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from shared.runtime.localservers import free_port

CHROMIUM = "/usr/bin/chromium"
#: As root, on a closed network: no sandbox, and none of Chromium's own connections.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")


@contextmanager
def chromium(*args: str) -> Iterator:
    """A launched Playwright Chromium (``args`` added); fails, never skips, without it."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install "
                    "chromium; scripts/test does it) to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=[*CHROMIUM_ARGS, *args])
        try:
            yield browser
        finally:
            browser.close()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the stdlib's name
        pass


@contextmanager
def serving(app, port: int | None = None) -> Iterator[int]:
    """``app`` on ``port`` (a free one unless given) of 127.0.0.1, in a thread; yields it."""
    port = port or free_port()
    server = make_server("127.0.0.1", port, app, server_class=_Server, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
