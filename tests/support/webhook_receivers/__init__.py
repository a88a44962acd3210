"""Webhook receivers the tests deliver to: threaded HTTP servers that verify every delivery.

``Receiver`` is a real HTTP server in this process (http.server, one thread
per request) answering from a script (``answers``: a status, or a function
of the request), recording every request it got and whether its signature
verified with the ``standardwebhooks`` library for each of the secrets it
is told. ``NodeReceiver`` is the same in Node, verifying with the npm
``standardwebhooks`` package (installed on first use from this folder's lock
into ``.cache/node/standardwebhooks``, beside the SMTP tests' nodemailer;
scripts/test does it ahead). When that cannot be done, ``ClientUnavailable``
says why and the test fails with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks import Webhook, WebhookVerificationError

from tests.support.smtp_clients import NODE_PREFIX, ClientUnavailable, npm_ci

HERE = Path(__file__).resolve().parent
#: The Node receiver's own package folder (npm ci there leaves nodemailer's alone).
NODE_FOLDER = NODE_PREFIX / "standardwebhooks"


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    #: Secrets (by index in the receiver's list) whose signature checked out.
    verified_by: tuple[int, ...]
    status: int

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


#: An answer: a status, or (status, headers, body).
Answer = int | tuple[int, dict[str, str], bytes]


@dataclass
class Receiver:
    """A threaded HTTP server on 127.0.0.1 recording and verifying what it is sent.

    ``answers``: what each request gets in turn (the last one repeats); or a
    function of the request number (0-based) and its parsed body.
    """

    secrets: list[str] = field(default_factory=list)
    answers: list[Answer] | Callable[[int, dict], Answer] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    #: The port to listen on (0: any free one).
    port: int = 0

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver._answer(self, body)

            def log_message(self, *args) -> None:
                pass

        self._lock = threading.Lock()
        self._count = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            n = self._count
            self._count += 1
        if callable(self.answers):  # outside the lock: it may take its time, side by side
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = {}
            answer = self.answers(n, parsed)
        else:
            answer = self.answers[min(n, len(self.answers) - 1)]
        status, extra, reply = answer if isinstance(answer, tuple) else (answer, {}, b"")
        with self._lock:
            self.received.append(Received(handler.path, headers, body, time.time(),
                                          verified_by(self.secrets, headers, body), status))
        handler.send_response(status)
        for name, value in extra.items():
            handler.send_header(name, value)
        handler.send_header("content-length", str(len(reply)))
        handler.end_headers()
        handler.wfile.write(reply)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """The requests once at least ``count`` came (AssertionError after ``timeout``)."""
        return wait_for(self.received, count, timeout, "the receiver")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(received: list, count: int, timeout: float, what: str) -> list:
    """``received`` once it holds ``count`` (AssertionError after ``timeout`` seconds)."""
    ends = time.monotonic() + timeout
    while len(received) < count:
        if time.monotonic() > ends:
            raise AssertionError(f"{what} got {len(received)} within {timeout} s, "
                                 f"wanted {count}")
        time.sleep(0.02)
    return list(received)


def verified_by(secrets: list[str], headers: dict[str, str], body: bytes) -> tuple[int, ...]:
    """Which of ``secrets`` the standardwebhooks library verifies this request with."""
    found = []
    for i, secret in enumerate(secrets):
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
        found.append(i)
    return tuple(found)


def install_standardwebhooks() -> Path:
    """The folder holding ``node_modules/standardwebhooks`` at the locked version."""
    return npm_ci(HERE, NODE_FOLDER, "standardwebhooks")


class NodeReceiver:
    """``receiver.mjs``: an HTTP server in Node that verifies each delivery with the npm
    ``standardwebhooks`` package and answers 204 (verified) or 401; ``received`` holds one
    ``{"id", "type", "verified"}`` per request, as it printed them."""

    def __init__(self, secret: str) -> None:
        folder = install_standardwebhooks()
        self.process = subprocess.Popen(
            ["node", str(HERE / "receiver.mjs")], stdout=subprocess.PIPE, text=True,
            env={**os.environ, "STANDARDWEBHOOKS_PREFIX": str(folder), "SECRET": secret})
        first = self.process.stdout.readline()
        if not first:
            raise ClientUnavailable(f"the Node receiver did not start ({self.process.wait()})")
        self.port = json.loads(first)["port"]
        self.received: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.received.append(json.loads(line))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict]:
        return wait_for(self.received, count, timeout, "the Node receiver")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
