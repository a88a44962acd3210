"""A fast fake Amazon SES v2 endpoint for benches.

Answers ``POST /v2/email/outbound-emails`` (SendEmail) like SES does, after an
artificial round-trip latency, and counts every delivery per recipient so a
bench can prove that nothing was sent twice.

It is a small HTTP/1.1 server on asyncio (standard library only): one event
loop, keep-alive connections, no thread per request, so the latency costs no
CPU and the server stays far from being the bottleneck of what it measures.

Endpoints:

    POST /v2/email/outbound-emails   SendEmail: {"MessageId": "..."}; 429
                                     TooManyRequestsException beyond --rate
    POST /v2/email/outbound-bulk-emails  SendBulkEmail: one SUCCESS result per
                                     entry; 429 for the whole call beyond --rate
                                     (its entries count as recipients)
    GET  /_arrivals                  {address: unix time} of recipients in
                                     IDLE_DOMAIN (idle latency)
    GET  /_stats                     counters as JSON (see ``FakeSes.stats``)
    POST /_reset                     zero the counters

Standalone::

    python bench/fake_ses.py --port 9000 --latency-ms 20 [--rate 14]

From a bench (a subprocess, so it does not share the bench's GIL)::

    with start_fake_ses(latency_ms=20) as ses:
        os.environ["AWS_ENDPOINT_URL_SESV2"] = ses.url
        ...
        print(ses.stats()["duplicates"])
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

SEND_PATH = "/v2/email/outbound-emails"
BULK_PATH = "/v2/email/outbound-bulk-emails"
#: Recipients in this domain have their arrival time kept (GET /_arrivals).
IDLE_DOMAIN = "idle.bench.example"
#: A realistic SES round trip from inside the same AWS region.
DEFAULT_LATENCY_MS = 20.0
MAX_HEAD = 64 * 1024
MAX_BODY = 40 * 1024 * 1024  # SES's own limit for a raw message is 40 MB


class TokenBucket:
    """``rate`` recipients per second with at most one second of burst."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self, count: int) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= count:
            self.tokens -= count
            return True
        return False


class FakeSes:
    """The endpoint's state and its request handling (one asyncio loop, no locks needed)."""

    def __init__(self, latency_ms: float = DEFAULT_LATENCY_MS, rate: float | None = None) -> None:
        self.latency = latency_ms / 1000.0
        self.latency_ms = latency_ms
        self.rate = rate
        self._prefix = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.bucket = TokenBucket(self.rate) if self.rate else None
        self.started = time.time()
        self.requests = 0
        self.sent = 0
        self.throttled = 0
        self.bad_requests = 0
        self.body_bytes = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.deliveries: Counter[str] = Counter()
        self.by_domain: Counter[str] = Counter()
        self.bulk_calls = 0
        self.arrivals: dict[str, float] = {}

    def stats(self) -> dict:
        duplicates = {a: n for a, n in self.deliveries.items() if n > 1}
        return {
            "latency_ms": self.latency_ms,
            "rate": self.rate,
            "since": self.started,
            "requests": self.requests,
            "bulk_calls": self.bulk_calls,
            "sent": self.sent,
            "throttled": self.throttled,
            "bad_requests": self.bad_requests,
            "max_in_flight": self.max_in_flight,
            "mean_body_bytes": round(self.body_bytes / self.sent) if self.sent else 0,
            "recipients": sum(self.deliveries.values()),
            "unique_recipients": len(self.deliveries),
            "by_domain": dict(self.by_domain),
            #: deliveries beyond the first, summed over recipients
            "duplicates": sum(n - 1 for n in duplicates.values()),
            "duplicate_examples": dict(itertools.islice(duplicates.items(), 10)),
        }

    async def send_email(self, body: bytes) -> tuple[int, dict, dict[str, str]]:
        self.requests += 1
        try:
            request = json.loads(body)
            recipients = [str(a) for a in request["Destination"]["ToAddresses"]]
            if not recipients or "Content" not in request:
                raise ValueError("no recipients or no content")
        except (ValueError, KeyError, TypeError) as exc:
            self.bad_requests += 1
            return _error(400, "BadRequestException", f"invalid SendEmail request: {exc}")
        if not await self._arrive(len(recipients)):
            return _error(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
        self.sent += 1
        self.body_bytes += len(body)
        self._deliver(recipients)
        return 200, {"MessageId": self._message_id()}, {}

    async def _arrive(self, recipients: int) -> bool:
        """One call's round trip; False when the bucket throttles it (decided on arrival:
        the round trip happens whatever the answer)."""
        if self.bucket and not self.bucket.take(recipients):
            self.throttled += 1
            await asyncio.sleep(self.latency)
            return False
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        return True

    def _message_id(self) -> str:
        return f"{self._prefix}-{next(self._ids):010d}"

    def _deliver(self, recipients: list[str]) -> None:
        arrived = time.time()
        for address in recipients:
            address = address.lower()
            self.deliveries[address] += 1
            domain = address.rpartition("@")[2]
            self.by_domain[domain] += 1
            if domain == IDLE_DOMAIN:
                self.arrivals.setdefault(address, arrived)

    async def send_bulk_email(self, body: bytes) -> tuple[int, dict, dict[str, str]]:
        """SendBulkEmail: every entry a message of its own, all throttled together or none."""
        self.requests += 1
        try:
            request = json.loads(body)
            entries = [[str(a) for a in e["Destination"]["ToAddresses"]]
                       for e in request["BulkEmailEntries"]]
            if not 1 <= len(entries) <= 50 or "Template" not in request["DefaultContent"]:
                raise ValueError("1 to 50 entries and a template")
        except (ValueError, KeyError, TypeError) as exc:
            self.bad_requests += 1
            return _error(400, "BadRequestException", f"invalid SendBulkEmail request: {exc}")
        if not await self._arrive(sum(len(e) for e in entries)):
            return _error(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
        self.bulk_calls += 1
        self.sent += len(entries)
        self.body_bytes += len(body)
        results = []
        for entry in entries:
            self._deliver(entry)
            results.append({"Status": "SUCCESS", "MessageId": self._message_id()})
        return 200, {"BulkEmailEntryResults": results}, {}

    async def route(self, method: str, path: str, body: bytes):
        path = path.split("?", 1)[0]
        if path == SEND_PATH:
            if method != "POST":
                return _error(405, "MethodNotAllowedException", f"{method} {path}")
            return await self.send_email(body)
        if path == BULK_PATH and method == "POST":
            return await self.send_bulk_email(body)
        if path == "/_arrivals" and method == "GET":
            return 200, self.arrivals, {}
        if path == "/_stats" and method == "GET":
            return 200, self.stats(), {}
        if path == "/_reset" and method == "POST":
            self.reset()
            return 200, {"reset": True}, {}
        return _error(404, "NotFoundException", f"no route for {method} {path}")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive connection: requests in order (HTTP clients do not pipeline)."""
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ConnectionError):
                    return
                try:
                    method, path, version, headers = _parse_head(head)
                    length = int(headers.get("content-length", "0"))
                    if length < 0 or length > MAX_BODY:
                        raise ValueError(f"content-length {length}")
                    if "chunked" in headers.get("transfer-encoding", ""):
                        raise ValueError("chunked bodies are not supported")
                except ValueError as exc:
                    self.bad_requests += 1
                    await _respond(writer, *_error(400, "BadRequestException", str(exc)),
                                   keep_alive=False)
                    return
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await reader.readexactly(length) if length else b""
                connection = headers.get("connection", "").lower()
                keep_alive = connection != "close" and (
                    version == "HTTP/1.1" or connection == "keep-alive")
                status, payload, extra = await self.route(method, path, body)
                await _respond(writer, status, payload, extra, keep_alive=keep_alive)
                if not keep_alive:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            429: "Too Many Requests"}


def _error(status: int, code: str, message: str) -> tuple[int, dict, dict[str, str]]:
    """An error as the rest-json protocol encodes it (botocore reads either field)."""
    return status, {"__type": code, "message": message}, {"x-amzn-ErrorType": code}


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, path, version = lines[0].split(" ")
    except ValueError:
        raise ValueError(f"bad request line {lines[0][:100]!r}") from None
    headers = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"bad header line {line[:100]!r}")
            headers[name.strip().lower()] = value.strip()
    return method, path, version, headers


async def _respond(writer: asyncio.StreamWriter, status: int, payload: dict,
                   extra: dict[str, str], *, keep_alive: bool) -> None:
    body = json.dumps(payload).encode()
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"x-amzn-RequestId: {uuid.uuid4()}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{name}: {value}" for name, value in extra.items()),
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


async def serve(host: str, port: int, latency_ms: float, rate: float | None) -> None:
    fake = FakeSes(latency_ms, rate)
    server = await asyncio.start_server(fake.handle, host, port, backlog=1024,
                                        limit=MAX_HEAD)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"fake SES listening on http://{host}:{port} (latency {latency_ms:g} ms, "
          f"rate {rate or 'unlimited'})", flush=True)
    async with server:
        await stop.wait()


class FakeSesProcess:
    """A fake SES running in a child process; ``stop()`` ends it."""

    def __init__(self, process: subprocess.Popen, port: int, latency_ms: float) -> None:
        self.process = process
        self.port = port
        self.latency_ms = latency_ms
        self.url = f"http://127.0.0.1:{port}"

    def _call(self, method: str, path: str) -> dict:
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    def stats(self) -> dict:
        return self._call("GET", "/_stats")

    def reset(self) -> None:
        self._call("POST", "/_reset")

    def arrivals(self) -> dict[str, float]:
        return self._call("GET", "/_arrivals")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> FakeSesProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_fake_ses(port: int | None = None, *, latency_ms: float = DEFAULT_LATENCY_MS,
                   rate: float | None = None, log: Path | None = None,
                   timeout: float = 15.0) -> FakeSesProcess:
    """Start ``python fake_ses.py`` on ``port`` (a free one by default); wait until it answers."""
    if port is None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    command = [sys.executable, str(Path(__file__).resolve()), "--port", str(port),
               "--latency-ms", str(latency_ms)]
    if rate:
        command += ["--rate", str(rate)]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
    if log:
        out.close()
    fake = FakeSesProcess(process, port, latency_ms)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fake.stats()
            return fake
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                fake.stop()
                raise RuntimeError(f"fake SES did not start on port {port} "
                                   f"(exit code {process.poll()})") from None
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FAKE_SES_PORT", 9000)))
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS,
                        help="artificial round trip per SendEmail "
                             f"(default {DEFAULT_LATENCY_MS:g})")
    parser.add_argument("--rate", type=float, default=None,
                        help="recipients/s accepted; beyond it answer 429 "
                             "TooManyRequestsException (default: unlimited)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.latency_ms, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
