"""Slow clients against the API: N connections send part of a request and stall.

    python -m bench.slowloris http://127.0.0.1:8000 --connections 16 --seconds 20

Opens ``--connections`` sockets that each send a request line and one
header, never the blank line that ends the headers (``--body``: full
headers announcing a body of BYTES that never comes), and keeps that many open
(a connection the server drops is opened again; with ``--trickle S`` each
sends one more header line every S seconds, as slowloris does). Meanwhile
it times ``GET /health`` once a second on a fresh connection and prints
one JSON line: the latencies, how many timed out, and how many stalled
connections the server dropped.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit


def _stall_request(host: str, body: int) -> bytes:
    if body:
        return (f"POST /api/mail HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {body}\r\n\r\n{{").encode()
    return f"GET /health HTTP/1.1\r\nHost: {host}\r\nX-Slow: 1\r\n".encode()


class Stallers:
    """Keeps ``count`` stalled connections open until ``stop()``."""

    def __init__(self, host: str, port: int, count: int, *, body: int, trickle: float) -> None:
        self.address, self.count = (host, port), count
        self.payload = _stall_request(host, body)
        self.trickle = trickle
        self.dropped = 0
        self.opened = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._hold, daemon=True) for _ in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def _hold(self) -> None:
        while not self._stop.is_set():
            try:
                with socket.create_connection(self.address, timeout=5) as sock:
                    sock.sendall(self.payload)
                    self.opened += 1
                    self._stall(sock)
            except OSError:
                pass
            if not self._stop.is_set():
                self.dropped += 1
                time.sleep(0.05)

    def _stall(self, sock: socket.socket) -> None:
        """Return when the server closes the connection, or when stopping."""
        sock.settimeout(0.5)
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                if sock.recv(4096) == b"":
                    return
            except TimeoutError:
                pass
            if self.trickle and time.monotonic() - last >= self.trickle:
                sock.sendall(b"X-More: 1\r\n")
                last = time.monotonic()


def time_health(url: str, timeout: float) -> float | None:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url + "/health", timeout=timeout) as answer:
            answer.read()
    except (urllib.error.URLError, OSError):
        return None
    return time.monotonic() - started


def run(url: str, connections: int, seconds: float, *, body: int = 0,
        trickle: float = 0.0, timeout: float = 10.0) -> dict:
    parts = urlsplit(url)
    stallers = Stallers(parts.hostname, parts.port or 80, connections, body=body,
                        trickle=trickle)
    baseline = time_health(url, timeout)
    stallers.start()
    time.sleep(1.0)  # let every stalled connection reach the server
    latencies: list[float | None] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        latencies.append(time_health(url, timeout))
        time.sleep(max(0.0, 1.0 - (latencies[-1] or timeout)))
    stallers.stop()
    answered = sorted(x for x in latencies if x is not None)
    return {
        "url": url, "connections": connections,
        "stall": f"body of {body} bytes" if body else "headers",
        "trickle_s": trickle, "baseline_ms": round(baseline * 1000, 1) if baseline else None,
        "probes": len(latencies), "timeouts": len(latencies) - len(answered),
        "p50_ms": round(statistics.median(answered) * 1000, 1) if answered else None,
        "max_ms": round(answered[-1] * 1000, 1) if answered else None,
        "stalled_opened": stallers.opened, "stalled_dropped_by_server": stallers.dropped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the API's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--body", type=int, default=0, metavar="BYTES",
                        help="stall in a body announced as BYTES long, not in the headers")
    parser.add_argument("--trickle", type=float, default=0.0,
                        help="send one more header line every S seconds (0: never)")
    parser.add_argument("--timeout", type=float, default=10.0, help="per /health probe")
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.connections, args.seconds, body=args.body,
                         trickle=args.trickle, timeout=args.timeout)))


if __name__ == "__main__":
    main()
