"""A local stand-in for Sentry's ingest: keeps every envelope the SDK posts.

Point a process at it with ``SENTRY_DSN=server.dsn``; ``events()`` returns the
error events received, ``raw`` every body as bytes (decompressed), so a test
can look for secrets anywhere in what left the process.
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SentryServer:
    def __init__(self) -> None:
        self.raw: list[bytes] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                server.raw.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.httpd.server_port}/1"

    def start(self) -> SentryServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def events(self) -> list[dict]:
        """Error events (envelope items of type ``event``), oldest first."""
        found = []
        for body in list(self.raw):
            lines = body.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                try:
                    if json.loads(header).get("type") == "event":
                        found.append(json.loads(payload))
                except ValueError:
                    continue
        return found
